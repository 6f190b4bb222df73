// A fresh temporary directory per test, removed with everything in it on destruction
// (kept when WAITROOM_KEEP_TEST_DIRS is set, to look at a failed run's data and logs).
#pragma once

#include <filesystem>
#include <string_view>

namespace waitroom::test {

class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "waitroom-it");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace waitroom::test
