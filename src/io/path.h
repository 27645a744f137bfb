// Path helpers for '/'-separated paths, shared by the Filesystem implementations and callers.
// Pure string functions; no I/O.
#pragma once

#include <string>

namespace shale::io {

// "a/b/c" -> "a/b"; "/a" -> "/"; "a" -> "" ; "/" -> "/". Trailing slashes are ignored.
std::string parent_dir(const std::string& path);
// Last component: "a/b/c" -> "c"; "/" -> "".
std::string base_name(const std::string& path);
// Joins with exactly one '/' between the parts.
std::string join_path(const std::string& dir, const std::string& name);

}  // namespace shale::io
