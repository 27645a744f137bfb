#include "s3/s3_xml.h"

#include <charconv>

#include "s3/sigv4.h"

namespace shale::s3 {
namespace {

std::string_view local_name(std::string_view qname) {
  size_t colon = qname.find(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

bool is_name_end(char c) {
  return c == ' ' || c == '>' || c == '/' || c == '\t' || c == '\n' || c == '\r';
}

// Parses the tag starting at doc[lt] == '<'. Returns the name, sets *gt to the position of '>'.
std::string_view tag_name(std::string_view doc, size_t lt, size_t* gt, bool* closing,
                          bool* self_closing) {
  *gt = doc.find('>', lt);
  if (*gt == std::string_view::npos) return {};
  size_t p = lt + 1;
  *closing = p < doc.size() && doc[p] == '/';
  if (*closing) ++p;
  size_t e = p;
  while (e < *gt && !is_name_end(doc[e])) ++e;
  *self_closing = *gt > lt && doc[*gt - 1] == '/';
  return doc.substr(p, e - p);
}

uint64_t to_u64(std::string_view s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string text_of(std::string_view doc, std::string_view name) {
  auto v = xml_text(doc, name);
  return v ? *v : std::string();
}

}  // namespace

std::vector<std::string_view> xml_elements(std::string_view doc, std::string_view name) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t lt = doc.find('<', pos);
    if (lt == std::string_view::npos || lt + 1 >= doc.size()) break;
    char next = doc[lt + 1];
    if (next == '?' || next == '!') {  // declaration, comment
      size_t end = doc.find('>', lt);
      if (end == std::string_view::npos) break;
      pos = end + 1;
      continue;
    }
    size_t gt = 0;
    bool closing = false, self_closing = false;
    std::string_view qn = tag_name(doc, lt, &gt, &closing, &self_closing);
    if (gt == std::string_view::npos) break;
    pos = gt + 1;
    if (closing || local_name(qn) != name) continue;
    if (self_closing) {
      out.push_back(doc.substr(gt + 1, 0));
      continue;
    }
    // Find the matching close tag (same local name).
    size_t scan = pos;
    bool found = false;
    while (true) {
      size_t c = doc.find("</", scan);
      if (c == std::string_view::npos) break;
      size_t cgt = 0;
      bool cl = false, sc = false;
      std::string_view cn = tag_name(doc, c, &cgt, &cl, &sc);
      if (cgt == std::string_view::npos) break;
      if (local_name(cn) == name) {
        out.push_back(doc.substr(pos, c - pos));
        pos = cgt + 1;
        found = true;
        break;
      }
      scan = cgt + 1;
    }
    if (!found) break;
  }
  return out;
}

std::optional<std::string> xml_text(std::string_view doc, std::string_view name) {
  auto els = xml_elements(doc, name);
  if (els.empty()) return std::nullopt;
  return xml_unescape(els.front());
}

std::string xml_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out.push_back('&');
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp")
      out.push_back('&');
    else if (ent == "lt")
      out.push_back('<');
    else if (ent == "gt")
      out.push_back('>');
    else if (ent == "quot")
      out.push_back('"');
    else if (ent == "apos")
      out.push_back('\'');
    else if (ent.size() > 1 && ent[0] == '#') {
      uint32_t cp = 0;
      bool hexa = ent[1] == 'x' || ent[1] == 'X';
      std::string_view digits = ent.substr(hexa ? 2 : 1);
      auto r = std::from_chars(digits.data(), digits.data() + digits.size(), cp, hexa ? 16 : 10);
      if (r.ec != std::errc() || r.ptr != digits.data() + digits.size() || cp > 0x10FFFF) {
        out.push_back('&');
        continue;
      }
      // UTF-8 encode.
      if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
    } else {
      out.push_back('&');
      continue;
    }
    i = semi;
  }
  return out;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string unquote_etag(std::string_view e) {
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return std::string(e);
}

S3Error parse_error(std::string_view body) {
  S3Error e;
  auto err = xml_elements(body, "Error");
  std::string_view scope = err.empty() ? body : err.front();
  e.code = text_of(scope, "Code");
  e.message = text_of(scope, "Message");
  e.request_id = text_of(scope, "RequestId");
  return e;
}

ListV2Result parse_list_v2(std::string_view body) {
  ListV2Result r;
  auto root = xml_elements(body, "ListBucketResult");
  if (root.empty()) return r;
  r.ok = true;
  std::string_view doc = root.front();
  const bool url = text_of(doc, "EncodingType") == "url";
  r.truncated = text_of(doc, "IsTruncated") == "true";
  r.next_token = text_of(doc, "NextContinuationToken");
  for (std::string_view c : xml_elements(doc, "Contents")) {
    ListedObject o;
    o.key = text_of(c, "Key");
    if (url) {
      // Servers that url-encode keys may also use '+' for spaces.
      std::string k;
      for (char ch : o.key) k.push_back(ch == '+' ? ' ' : ch);
      o.key = uri_decode(k);
    }
    o.size = to_u64(text_of(c, "Size"));
    o.etag = unquote_etag(text_of(c, "ETag"));
    r.objects.push_back(std::move(o));
  }
  return r;
}

std::optional<std::string> parse_upload_id(std::string_view body) {
  auto id = xml_text(body, "UploadId");
  if (!id || id->empty()) return std::nullopt;
  return id;
}

ListPartsResult parse_list_parts(std::string_view body) {
  ListPartsResult r;
  auto root = xml_elements(body, "ListPartsResult");
  if (root.empty()) return r;
  r.ok = true;
  std::string_view doc = root.front();
  r.truncated = text_of(doc, "IsTruncated") == "true";
  r.next_marker = text_of(doc, "NextPartNumberMarker");
  for (std::string_view p : xml_elements(doc, "Part")) {
    ListedPart lp;
    lp.number = static_cast<int>(to_u64(text_of(p, "PartNumber")));
    lp.etag = text_of(p, "ETag");
    lp.size = to_u64(text_of(p, "Size"));
    r.parts.push_back(std::move(lp));
  }
  return r;
}

std::vector<std::pair<std::string, std::string>> parse_delete_errors(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::string_view e : xml_elements(body, "Error")) {
    out.emplace_back(text_of(e, "Key"), text_of(e, "Code"));
  }
  return out;
}

}  // namespace shale::s3
