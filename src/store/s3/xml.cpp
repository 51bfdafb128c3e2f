#include "store/s3/xml.h"

#include <expat.h>

#include <climits>

#include "core/error.h"

namespace pvesafe::store::s3 {

const XmlNode* XmlNode::child(std::string_view n) const {
  for (const auto& c : children) {
    if (c->name == n) return c.get();
  }
  return nullptr;
}

std::string XmlNode::child_text(std::string_view n) const {
  const XmlNode* c = child(n);
  return c ? c->text : std::string();
}

std::vector<const XmlNode*> XmlNode::children_named(std::string_view n) const {
  std::vector<const XmlNode*> out;
  for (const auto& c : children) {
    if (c->name == n) out.push_back(c.get());
  }
  return out;
}

const XmlNode* XmlNode::find(std::string_view n) const {
  if (name == n) return this;
  for (const auto& c : children) {
    if (const XmlNode* f = c->find(n)) return f;
  }
  return nullptr;
}

namespace {

struct Builder {
  XML_Parser parser = nullptr;
  std::unique_ptr<XmlNode> root;
  std::vector<XmlNode*> stack;
  std::string refused;  // why the parser was stopped
};

void refuse(Builder* b, std::string why) {
  if (b->refused.empty()) b->refused = std::move(why);
  XML_StopParser(b->parser, XML_FALSE);
}

void on_doctype(void* data, const XML_Char*, const XML_Char*, const XML_Char*, int) {
  refuse(static_cast<Builder*>(data), "a document type declaration");
}

void on_start(void* data, const XML_Char* name, const XML_Char** /*attrs*/) {
  auto* b = static_cast<Builder*>(data);
  if (b->stack.size() >= kMaxXmlDepth) {
    refuse(b, "elements nested more than " + std::to_string(kMaxXmlDepth) + " deep");
    return;
  }
  std::string_view n(name);
  if (auto colon = n.find(':'); colon != std::string_view::npos) n.remove_prefix(colon + 1);
  auto node = std::make_unique<XmlNode>();
  node->name = std::string(n);
  XmlNode* raw = node.get();
  if (b->stack.empty()) {
    b->root = std::move(node);
  } else {
    b->stack.back()->children.push_back(std::move(node));
  }
  b->stack.push_back(raw);
}

void on_end(void* data, const XML_Char* /*name*/) {
  auto* b = static_cast<Builder*>(data);
  if (!b->stack.empty()) b->stack.pop_back();
}

void on_text(void* data, const XML_Char* s, int len) {
  auto* b = static_cast<Builder*>(data);
  if (!b->stack.empty()) b->stack.back()->text.append(s, static_cast<size_t>(len));
}

}  // namespace

std::unique_ptr<XmlNode> parse_xml(std::string_view doc, std::string_view what) {
  Builder b;
  if (doc.size() > static_cast<size_t>(INT_MAX)) {
    throw Error(Errc::kRemote, std::string(what) + ": the server sent an XML response of " +
                                   std::to_string(doc.size()) + " bytes, too large to read");
  }
  XML_Parser p = XML_ParserCreate("UTF-8");
  if (!p) throw Error(Errc::kInternal, "cannot create an XML parser");
  b.parser = p;
  XML_SetUserData(p, &b);
  XML_SetElementHandler(p, on_start, on_end);
  XML_SetCharacterDataHandler(p, on_text);
  XML_SetStartDoctypeDeclHandler(p, on_doctype);
  bool ok = XML_Parse(p, doc.data(), static_cast<int>(doc.size()), 1) == XML_STATUS_OK;
  std::string err = !b.refused.empty() ? b.refused
                    : ok               ? std::string()
                                       : XML_ErrorString(XML_GetErrorCode(p));
  XML_ParserFree(p);
  ok = ok && b.refused.empty();
  if (!ok || !b.root) {
    throw Error(Errc::kRemote,
                std::string(what) + ": the server sent a malformed XML response (" +
                    (ok ? std::string("no root element") : err) + ")",
                "check that s3.endpoint points at an S3 service");
  }
  return std::move(b.root);
}

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace pvesafe::store::s3
