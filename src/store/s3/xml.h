// A small element tree over expat for the S3 and STS XML responses (ListObjectsV2, errors,
// multipart, DeleteObjects, AssumeRole). Namespace prefixes are dropped from element names;
// attributes are not kept (S3 responses carry their data in elements).
//
// Limits: elements nest at most kMaxXmlDepth deep (S3 documents use 4), document type
// declarations are refused (S3 sends none; no entity tricks), and the document is at most what
// the HTTP client accepted (http_client.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pvesafe::store::s3 {

inline constexpr size_t kMaxXmlDepth = 32;

struct XmlNode {
  std::string name;
  std::string text;  // character data directly inside this element
  std::vector<std::unique_ptr<XmlNode>> children;

  // First child element with this name, or nullptr.
  const XmlNode* child(std::string_view n) const;
  // Text of the first child with this name, or "" when absent.
  std::string child_text(std::string_view n) const;
  std::vector<const XmlNode*> children_named(std::string_view n) const;
  // First element with this name anywhere below (depth first), or nullptr.
  const XmlNode* find(std::string_view n) const;
};

// Parses a document; throws pvesafe::Error(kRemote) naming `what` when it is not well-formed or
// exceeds the limits above.
std::unique_ptr<XmlNode> parse_xml(std::string_view doc, std::string_view what);

// Escapes &, <, >, " and ' for element text.
std::string xml_escape(std::string_view s);

}  // namespace pvesafe::store::s3
