// Asset lookup, versions and the web files' source (embedded, or --web-root); see assets.hpp.
#include "web/assets.hpp"

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "web/embedded_files.hpp"

namespace waitroom::web {
namespace {

constexpr std::string_view kThemeCss = "theme.css";
// A web file read from --web-root larger than this is refused (the embedded copy is served).
constexpr std::uintmax_t kMaxFileBytes = 4 * 1024 * 1024;

// FNV-1a, 64 bits: enough to tell two versions of a file apart, not a security measure.
std::string content_version(std::string_view content) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : content) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(hash));
  return buffer;
}

std::string_view content_type_of(std::string_view name) {
  auto ends_with = [&](std::string_view suffix) { return name.ends_with(suffix); };
  if (ends_with(".js")) return "text/javascript; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".svg")) return "image/svg+xml";
  if (ends_with(".png")) return "image/png";
  if (ends_with(".json")) return "application/json";
  return "application/octet-stream";
}

const EmbeddedFile* find_embedded(std::string_view name) {
  for (const auto& file : embedded_files()) {
    if (file.name == name) return &file;
  }
  return nullptr;
}

// Templates and the string table are read by the server, not served.
bool servable(std::string_view name) {
  return !name.ends_with(".html") && name != "strings.json";
}

// The versions of the embedded files, computed once.
const std::map<std::string_view, std::string>& embedded_versions() {
  static const auto versions = [] {
    std::map<std::string_view, std::string> out;
    for (const auto& file : embedded_files()) out[file.name] = content_version(file.content);
    return out;
  }();
  return versions;
}

}  // namespace

std::optional<std::string> web_file(const PageOptions& options, std::string_view name) {
  const EmbeddedFile* embedded = find_embedded(name);
  if (embedded == nullptr) return std::nullopt;  // names come from the embedded list only
  if (!options.web_root.empty()) {
    const auto path = options.web_root / std::string(name);
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec && size <= kMaxFileBytes) {
      std::ifstream in(path, std::ios::binary);
      std::ostringstream content;
      content << in.rdbuf();
      if (in) return std::move(content).str();
    }
  }
  return std::string(embedded->content);
}

std::optional<Asset> find_asset(const PageOptions& options, std::string_view name) {
  if (name == kThemeCss) {
    Asset asset{theme_css(options), content_type_of(name), {}};
    asset.version = content_version(asset.content);
    return asset;
  }
  if (!servable(name)) return std::nullopt;
  auto content = web_file(options, name);
  if (!content) return std::nullopt;
  Asset asset{std::move(*content), content_type_of(name), {}};
  if (options.web_root.empty()) {
    asset.version = embedded_versions().at(name);
  } else {
    asset.version = content_version(asset.content);
  }
  return asset;
}

std::string asset_url(const PageOptions& options, std::string_view name) {
  std::string url = options.prefix + "/assets/" + std::string(name);
  std::string version;
  if (name == kThemeCss) {
    version = content_version(theme_css(options));
  } else if (options.web_root.empty()) {
    if (auto it = embedded_versions().find(name); it != embedded_versions().end()) {
      version = it->second;
    }
  } else if (auto asset = find_asset(options, name)) {
    version = asset->version;
  }
  if (!version.empty()) url += "?v=" + version;
  return url;
}

}  // namespace waitroom::web
