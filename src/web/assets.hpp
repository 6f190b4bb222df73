// The files the waiting room serves under {prefix}/assets/: the page's script and style
// sheet, the overlay script that the gate injects into the upstream's pages, the icon, and
// theme.css, which is generated from the colour settings.
//
// Each asset has an ETag (a hash of its bytes). The page links its assets as
// "name?v=<hash>": such a versioned URL never changes meaning, so it may be cached for a
// year; an unversioned one (overlay.js, as the gate injects it) is revalidated each time.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "web/pages.hpp"

namespace waitroom::web {

struct Asset {
  std::string content;
  std::string_view content_type;
  std::string version;  // 16 hex digits of the content's hash
  std::string etag() const { return "\"" + version + "\""; }
};

// The asset called `name`; nullopt for a name that is not an asset (templates and the
// string table are not served, and a name is never a path).
std::optional<Asset> find_asset(const PageOptions& options, std::string_view name);

// "{prefix}/assets/{name}?v={version}"; the unversioned URL for an unknown name.
std::string asset_url(const PageOptions& options, std::string_view name);

// A web file's bytes: from options.web_root when set and readable, else the embedded copy;
// nullopt when there is no such embedded file.
std::optional<std::string> web_file(const PageOptions& options, std::string_view name);

// The generated style sheet of the colour settings.
std::string theme_css(const PageOptions& options);

}  // namespace waitroom::web
