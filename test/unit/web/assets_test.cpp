// Checks the assets: which names are served (scripts, styles, the icon, the generated
// theme.css) and which are not (the template, the string table, paths), their content
// types, versions that follow the content, and --web-root reading files from disk (with
// the embedded copy when the file is missing) without ever leaving the list of names.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "web/assets.hpp"

namespace waitroom::web {
namespace {

TEST(Assets, ServedNamesAndContentTypes) {
  const PageOptions options;
  const std::pair<const char*, const char*> expected[] = {
      {"waiting-room.js", "text/javascript; charset=utf-8"},
      {"overlay.js", "text/javascript; charset=utf-8"},
      {"waiting-room.css", "text/css; charset=utf-8"},
      {"theme.css", "text/css; charset=utf-8"},
      {"favicon.svg", "image/svg+xml"},
  };
  for (const auto& [name, type] : expected) {
    const auto asset = find_asset(options, name);
    ASSERT_TRUE(asset) << name;
    EXPECT_EQ(asset->content_type, type) << name;
    EXPECT_FALSE(asset->content.empty()) << name;
    EXPECT_EQ(asset->version.size(), 16u) << name;
    EXPECT_EQ(asset->etag(), "\"" + asset->version + "\"");
  }
  for (const char* name : {"waiting-room.html", "strings.json", "", "nope.js", "../overlay.js",
                           "/etc/passwd", "overlay.js/", ".overlay.js"}) {
    EXPECT_FALSE(find_asset(options, name)) << name;
  }
}

TEST(Assets, UrlsCarryTheVersion) {
  PageOptions options;
  options.prefix = "/_waitroom";
  const auto asset = find_asset(options, "waiting-room.js");
  ASSERT_TRUE(asset);
  EXPECT_EQ(asset_url(options, "waiting-room.js"),
            "/_waitroom/assets/waiting-room.js?v=" + asset->version);
  // theme.css changes with the colours, and so does its version.
  const auto before = asset_url(options, "theme.css");
  options.theme_color = "#0a7";
  EXPECT_NE(asset_url(options, "theme.css"), before);
  EXPECT_EQ(asset_url(options, "nope.js"), "/_waitroom/assets/nope.js");
}

class WebRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    root_ = std::filesystem::temp_directory_path() /
            ("waitroom-web-root-" + std::to_string(random()) + std::to_string(random()));
    std::filesystem::create_directories(root_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  std::filesystem::path root_;
};

TEST_F(WebRootTest, ReadsFilesFromDiskAtEachRequest) {
  PageOptions options;
  options.web_root = root_;
  const auto embedded = find_asset(PageOptions{}, "overlay.js");
  ASSERT_TRUE(embedded);
  // Missing on disk: the embedded copy.
  EXPECT_EQ(find_asset(options, "overlay.js")->content, embedded->content);
  std::ofstream(root_ / "overlay.js") << "// edited\n";
  const auto edited = find_asset(options, "overlay.js");
  ASSERT_TRUE(edited);
  EXPECT_EQ(edited->content, "// edited\n");
  EXPECT_NE(edited->version, embedded->version);
  // Only the names of the embedded list: another file in the directory is not served.
  std::ofstream(root_ / "secret.js") << "x";
  EXPECT_FALSE(find_asset(options, "secret.js"));
  // The template from disk too.
  std::ofstream(root_ / "waiting-room.html") << "<p>{{service_name}}</p>";
  options.service_name = "A&B";
  EXPECT_EQ(waiting_room_html(options, ""), "<p>A&amp;B</p>");
}

}  // namespace
}  // namespace waitroom::web
