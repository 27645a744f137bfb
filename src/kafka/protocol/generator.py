#!/usr/bin/env python3
"""Generates Shale's Kafka message code from the schema files in schemas/ (format: README.md).

Usage: generator.py --out DIR --schemas DIR [--markdown]

Writes, into DIR:
  <stem>.h / <stem>.cc   one per schema file: structs with encode/decode for every version
  messages.h             includes every message header; visit_request()/visit_response()
  api_table.h / .cc      the per-API version table (the only list of APIs, derived from schemas)
  roundtrip_test.cc      a GoogleTest round-trip test over every message and version
With --markdown, prints the version table as Markdown instead (docs/compatibility.md).

Python 3 standard library only. Everything message-specific lives in the schema files.
"""

import argparse
import os
import re
import sys

SCALARS = {
    # type: (C++ type, Writer/Reader suffix, zero value)
    "bool": ("bool", "bool", "false"),
    "int8": ("int8_t", "int8", "0"),
    "int16": ("int16_t", "int16", "0"),
    "int32": ("int32_t", "int32", "0"),
    "int64": ("int64_t", "int64", "0"),
    "uint16": ("uint16_t", "uint16", "0"),
    "uint32": ("uint32_t", "uint32", "0"),
    "float64": ("double", "float64", "0"),
    "uuid": ("Uuid", "uuid", "{}"),
}
BLOBS = {"string", "bytes", "records"}
CPP_KEYWORDS = {"default", "operator", "class", "delete", "new", "private", "public", "template",
                "namespace", "union", "register", "auto", "switch", "case", "this", "static"}


class SchemaError(Exception):
    pass


class Versions:
    """A version range: 'N', 'N+', 'N-M' or 'none'."""

    def __init__(self, text):
        self.text = text
        if text == "none":
            self.lo, self.hi = None, None
            return
        m = re.fullmatch(r"(\d+)(\+|-(\d+))?", text)
        if not m:
            raise SchemaError("bad version range %r" % text)
        self.lo = int(m.group(1))
        if m.group(2) == "+":
            self.hi = None
        elif m.group(3) is not None:
            self.hi = int(m.group(3))
        else:
            self.hi = self.lo

    def empty(self):
        return self.lo is None

    def contains(self, v):
        return self.lo is not None and v >= self.lo and (self.hi is None or v <= self.hi)

    def cond(self, valid):
        """C++ condition on `version`, simplified against the message's valid range."""
        if self.empty():
            return "false"
        parts = []
        if self.lo > valid.lo:
            parts.append("version >= %d" % self.lo)
        if self.hi is not None and (valid.hi is None or self.hi < valid.hi):
            parts.append("version <= %d" % self.hi)
        return " && ".join(parts) if parts else "true"

    def intersect(self, other):
        if self.empty() or other.empty():
            return Versions("none")
        lo = max(self.lo, other.lo)
        his = [h for h in (self.hi, other.hi) if h is not None]
        hi = min(his) if his else None
        if hi is not None and hi < lo:
            return Versions("none")
        return Versions("%d%s" % (lo, "+" if hi is None else "-%d" % hi))


class Field:
    def __init__(self, name, type_, versions, attrs, lineno):
        self.name = name
        self.is_array = type_.startswith("[]")
        self.base = type_[2:] if self.is_array else type_
        self.versions = Versions(versions)
        self.nullable = Versions(attrs.pop("null", "none"))
        self.tag = int(attrs.pop("tag")) if "tag" in attrs else None
        self.tagged = Versions(attrs.pop("tagged", versions if self.tag is not None else "none"))
        self.default = attrs.pop("default", None)
        self.flex_none = attrs.pop("flex", None) == "none"
        self.children = []
        self.lineno = lineno
        if attrs:
            raise SchemaError("line %d: unknown attributes %s" % (lineno, sorted(attrs)))
        if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name):
            raise SchemaError("line %d: field names are CamelCase: %r" % (lineno, name))

    @property
    def member(self):
        s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", self.name)
        s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s).lower()
        return s + "_" if s in CPP_KEYWORDS else s

    @property
    def is_struct(self):
        return self.base not in SCALARS and self.base not in BLOBS

    def cpp_elem(self):
        if self.base in SCALARS:
            return SCALARS[self.base][0]
        if self.base == "string":
            return "std::string"
        if self.base in ("bytes", "records"):
            return "Buf"
        return self.base

    def cpp_type(self):
        t = self.cpp_elem()
        if self.is_array:
            t = "std::vector<%s>" % t
        if not self.nullable.empty():
            t = "std::optional<%s>" % t
        return t

    def cpp_value_default(self):
        """Initializer for the non-null value."""
        d = self.default
        if self.is_array or self.is_struct:
            return "{}"
        if self.base == "string":
            return "std::string(%s)" % cpp_string(d or "")
        if self.base in ("bytes", "records"):
            return "Buf()"
        if self.base == "bool":
            return d if d in ("true", "false") else "false"
        if self.base == "uuid":
            return "{}"
        if d is None:
            return "0"
        if self.base == "float64":
            return d
        v = int(d, 0)
        if self.base == "int64" and v == -(1 << 63):
            return "INT64_MIN"
        if self.base == "int32" and v == -(1 << 31):
            return "INT32_MIN"
        return str(v)

    def null_by_default(self):
        return not self.nullable.empty() and (self.default == "null" or
                                              (self.default is None and self.base == "records"))

    def cpp_init(self):
        if self.null_by_default():
            return "std::nullopt"
        return self.cpp_value_default()


def cpp_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Struct:
    def __init__(self, name, fields):
        self.name = name
        self.fields = fields


class Message:
    def __init__(self, kind, name, api_key, valid, flexible, attrs):
        self.kind = kind  # request | response | header
        self.name = name
        self.api_key = api_key
        self.valid = Versions(valid)
        self.flexible = Versions(flexible)
        self.fields = []
        self.common = {}  # name -> Struct
        self.attrs = attrs

    def first_flexible(self):
        return -1 if self.flexible.empty() else self.flexible.lo

    def structs(self):
        """Every nested struct in definition (post-) order, children before parents."""
        out, seen = [], {}

        def visit(fields):
            for f in fields:
                if not f.is_struct:
                    continue
                if f.children:
                    visit(f.children)
                    if f.base in seen or f.base in self.common:
                        raise SchemaError("%s: struct %s defined twice" % (self.name, f.base))
                    seen[f.base] = Struct(f.base, f.children)
                    out.append(seen[f.base])
                elif f.base not in self.common:
                    raise SchemaError("%s: struct %s has no fields and is not a common struct"
                                      % (self.name, f.base))

        for s in self.common.values():
            visit(s.fields)
            out.append(s)
        visit(self.fields)
        return out


class Api:
    def __init__(self, key, name, attrs):
        self.key = key
        self.name = name
        self.attrs = attrs
        self.request = None
        self.response = None


def validate(msg):
    """Checks what the generator relies on; a failure means the schema or generator needs work."""
    if msg.valid.empty() or msg.valid.hi is None:
        raise SchemaError("%s: valid versions must be a closed range" % msg.name)

    def check(fields, where):
        names = set()
        for f in fields:
            if f.name in names:
                raise SchemaError("%s: duplicate field %s" % (where, f.name))
            names.add(f.name)
            if f.tag is not None:
                t = f.tagged
                if t.empty() or msg.flexible.empty() or t.lo < msg.flexible.lo or \
                        t.lo != f.versions.lo or t.hi != f.versions.hi:
                    raise SchemaError("%s.%s: tagged versions must equal versions and be flexible"
                                      % (where, f.name))
            if not f.nullable.empty() and not f.is_array and f.base in SCALARS:
                raise SchemaError("%s.%s: scalars cannot be nullable" % (where, f.name))
            if f.children:
                check(f.children, where + "." + f.name)

    check(msg.fields, msg.name)
    for s in msg.common.values():
        check(s.fields, msg.name + "." + s.name)
    tags = {}
    for f in msg.fields:
        if f.tag is not None and f.tag in tags:
            raise SchemaError("%s: tag %d used twice" % (msg.name, f.tag))
        tags[f.tag] = f
    msg.structs()


def parse_attrs(tokens, lineno):
    attrs = {}
    for t in tokens:
        if "=" not in t:
            raise SchemaError("line %d: expected key=value, got %r" % (lineno, t))
        k, v = t.split("=", 1)
        attrs[k] = v
    return attrs


def parse_file(path):
    """Returns (apis, headers) declared in one schema file."""
    apis, headers = [], []
    api = None
    msg = None
    stack = []  # (indent, list to append fields to, owning Field or None)
    with open(path) as f:
        lines = f.read().split("\n")
    for lineno, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        tok = line.split()
        try:
            if indent == 0:
                if tok[0] == "api":
                    api = Api(int(tok[1]), tok[2], parse_attrs(tok[3:], lineno))
                    apis.append(api)
                    msg = None
                elif tok[0] in ("request", "response", "header"):
                    if tok[0] == "header":
                        name, rest = tok[1], tok[2:]
                        key = -1
                    else:
                        if api is None:
                            raise SchemaError("line %d: %s before api" % (lineno, tok[0]))
                        name, rest, key = api.name + tok[0].capitalize(), tok[1:], api.key
                    if len(rest) < 4 or rest[0] != "valid" or rest[2] != "flexible":
                        raise SchemaError("line %d: expected 'valid R flexible R'" % lineno)
                    msg = Message(tok[0], name, key, rest[1], rest[3],
                                  parse_attrs(rest[4:], lineno))
                    if tok[0] == "header":
                        headers.append(msg)
                    elif getattr(api, tok[0]) is not None:
                        raise SchemaError("line %d: second %s" % (lineno, tok[0]))
                    else:
                        setattr(api, tok[0], msg)
                    stack = [(0, msg.fields, None)]
                else:
                    raise SchemaError("line %d: unknown declaration %r" % (lineno, tok[0]))
                continue
            if msg is None:
                raise SchemaError("line %d: field outside a message" % lineno)
            while stack and indent <= stack[-1][0] and len(stack) > 1:
                stack.pop()
            parent_indent, target, owner = stack[-1]
            if owner is not None and indent <= parent_indent:
                raise SchemaError("line %d: bad indentation" % lineno)
            if tok[0] == "struct":
                if len(stack) != 1:
                    raise SchemaError("line %d: common structs go at message level" % lineno)
                s = Struct(tok[1], [])
                msg.common[tok[1]] = s
                stack.append((indent, s.fields, s))
                continue
            if len(tok) < 3:
                raise SchemaError("line %d: expected 'Name type versions [attrs]'" % lineno)
            fld = Field(tok[0], tok[1], tok[2], parse_attrs(tok[3:], lineno), lineno)
            target.append(fld)
            if fld.is_struct:
                stack.append((indent, fld.children, fld))
        except (SchemaError, ValueError, IndexError) as e:
            raise SchemaError("%s:%d: %s" % (path, lineno, e))
    for a in apis:
        if a.request is None or a.response is None:
            raise SchemaError("%s: api %s needs a request and a response" % (path, a.name))
    return apis, headers


# ------------------------------------------------------------------------------ code emission


class Out:
    def __init__(self):
        self.lines = []
        self.ind = 0

    def __call__(self, s=""):
        self.lines.append(("  " * self.ind + s) if s else "")

    def block(self, head):
        self(head + " {")
        self.ind += 1

    def end(self, tail="}"):
        self.ind -= 1
        self(tail)

    def text(self):
        return "\n".join(self.lines) + "\n"


def flex_expr(f):
    return "false" if f.flex_none else "flex"


def write_value(o, f, x, fl, msg):
    """Writes value expression x (already unwrapped from optional) of field f."""
    if f.is_array:
        o("w.write_array_len(%s.size(), %s);" % (x, fl))
        o.block("for (const auto& e : %s)" % x)
        write_elem(o, f, "e", fl)
        o.end()
    else:
        write_elem(o, f, x, fl)


def write_elem(o, f, x, fl):
    if f.base in SCALARS:
        o("w.write_%s(%s);" % (SCALARS[f.base][1], x))
    elif f.base == "string":
        o("w.write_string(%s, %s);" % (x, fl))
    elif f.base in ("bytes", "records"):
        o("w.write_bytes(%s, %s);" % (x, fl))
    else:
        o("%s.write(w, version);" % x)


def write_field(o, f, fl, msg):
    m = f.member
    if f.nullable.empty():
        write_value(o, f, m, fl, msg)
        return
    ncond = f.nullable.cond(msg.valid)
    o.block("if (%s)" % m)
    if f.is_struct and not f.is_array:
        o.block("if (%s)" % ncond)
        o("w.write_int8(1);")
        o.end()
    write_value(o, f, "(*%s)" % m, fl, msg)
    o.end("} else {")
    o.ind += 1
    # Null: the null marker where the version allows it, else an empty value.
    if f.is_array:
        null_w, empty_w = "w.write_null_array(%s);" % fl, "w.write_array_len(0, %s);" % fl
    elif f.base == "string":
        null_w, empty_w = ("w.write_nullable_string(std::nullopt, %s);" % fl,
                           "w.write_string({}, %s);" % fl)
    elif f.base in ("bytes", "records"):
        null_w, empty_w = ("w.write_nullable_bytes(std::nullopt, %s);" % fl,
                           "w.write_bytes(Buf(), %s);" % fl)
    elif f.is_struct:
        null_w, empty_w = "w.write_int8(-1);", "%s{}.write(w, version);" % f.base
    else:
        raise SchemaError("%s: nullable %s is not supported" % (f.name, f.base))
    if ncond == "true":
        o(null_w)
    else:
        o.block("if (%s)" % ncond)
        o(null_w)
        o.end("} else {")
        o.ind += 1
        o(empty_w)
        o.end()
    o.end()


def read_elem(o, f, target, fl):
    """Emits code that assigns one element of f into lvalue target."""
    if f.base in SCALARS:
        o("%s = r.read_%s();" % (target, SCALARS[f.base][1]))
    elif f.base == "string":
        o("%s = r.read_string(%s);" % (target, fl))
    elif f.base in ("bytes", "records"):
        o("%s = r.read_bytes(%s);" % (target, fl))
    else:
        o("%s.read(r, version);" % target)


def read_field(o, f, fl, msg):
    m = f.member
    nullable = not f.nullable.empty()
    ncond = f.nullable.cond(msg.valid) if nullable else "false"
    if f.is_array:
        o.block("")
        o("int32_t n = r.read_array_len(%s);" % fl)
        o.block("if (n < 0)")
        if nullable:
            o.block("if (%s)" % ncond)
            o("%s = std::nullopt;" % m)
            o.end("} else {")
            o.ind += 1
            o('r.fail("null array in %s");' % f.name)
            o.end()
        else:
            o('r.fail("null array in %s");' % f.name)
        o.end("} else {")
        o.ind += 1
        o("auto& v = %s;" % ("%s.emplace()" % m if nullable else m))
        o("v.clear();")
        o("v.reserve(std::min<size_t>(static_cast<size_t>(n), 64));")
        o.block("for (int32_t i = 0; i < n && r.ok(); ++i)")
        if f.is_struct:
            o("const size_t before = r.position();")
            o("v.emplace_back().read(r, version);")
            o('if (r.position() == before) r.fail("empty element in %s");' % f.name)
        else:
            o("v.emplace_back();")
            read_elem(o, f, "v.back()", fl)
        o.end()
        o.end()
        o.end()
        return
    if f.is_struct:
        if nullable:
            o.block("if (%s)" % ncond)
            o.block("if (r.read_int8() < 0)")
            o("%s = std::nullopt;" % m)
            o.end("} else {")
            o.ind += 1
            o("%s = %s{};" % (m, f.base))
            o("%s->read(r, version);" % m)
            o.end()
            o.end("} else {")
            o.ind += 1
            o("%s = %s{};" % (m, f.base))
            o("%s->read(r, version);" % m)
            o.end()
        else:
            o("%s.read(r, version);" % m)
        return
    if nullable and f.base in ("string", "bytes", "records"):
        kind = "string" if f.base == "string" else "bytes"
        if ncond == "true":
            o("%s = r.read_nullable_%s(%s);" % (m, kind, fl))
        else:
            o("%s = (%s) ? r.read_nullable_%s(%s) : r.read_%s(%s);" % (m, ncond, kind, fl, kind, fl))
        return
    read_elem(o, f, m, fl)


def is_default_expr(f):
    m = f.member
    if f.null_by_default():
        return "!%s.has_value()" % m
    if not f.nullable.empty():
        if f.is_array:
            return "(%s.has_value() && %s->empty())" % (m, m)
        if f.is_struct:
            return "(%s.has_value() && *%s == %s{})" % (m, m, f.base)
        return "(%s.has_value() && *%s == %s)" % (m, m, f.cpp_value_default())
    if f.is_array:
        return "%s.empty()" % m
    if f.is_struct:
        return "%s == %s{}" % (m, f.base)
    if f.base in ("bytes", "records"):
        return "%s.empty()" % m
    if f.base == "uuid":
        return "%s.is_zero()" % m
    return "%s == %s" % (m, f.cpp_value_default())


def emit_struct_decl(o, name, fields, top=None):
    o.block("struct %s" % name)
    for f in fields:
        o("%s %s = %s;" % (f.cpp_type(), f.member, f.cpp_init()))
    o("// Tagged fields this code does not know; re-emitted on encode.")
    o("UnknownTags unknown_tags;")
    o()
    o("void write(Writer& w, int16_t version) const;")
    o("void read(Reader& r, int16_t version);")
    if top:
        o("// Encodes/decodes the body at `version`; fails on an unsupported version or bad input.")
        o("[[nodiscard]] Status encode(Writer& w, int16_t version) const;")
        o("[[nodiscard]] Status decode(Reader& r, int16_t version);")
    o("bool operator==(const %s&) const = default;" % name)


def emit_struct_impl(o, qual, fields, msg):
    flex_first = msg.first_flexible()
    flex_init = "false" if flex_first < 0 else "version >= %d" % flex_first
    any_flex = flex_first >= 0
    # ---- write
    o.block("void %s::write(Writer& w, [[maybe_unused]] int16_t version) const" % qual)
    o("[[maybe_unused]] const bool flex = %s;" % flex_init)
    for f in fields:
        cond = f.versions.cond(msg.valid)
        if cond == "false":
            continue
        if f.tag is not None:
            continue  # tagged fields live only in the tag section (checked by validate())
        if cond == "true":
            write_field(o, f, flex_expr(f), msg)
            continue
        o.block("if (%s)" % cond)
        write_field(o, f, flex_expr(f), msg)
        o.end()
    if any_flex:
        o.block("if (flex)")
        o("TagSection tags;")
        for f in sorted([f for f in fields if f.tag is not None], key=lambda f: f.tag):
            cond = f.tagged.intersect(f.versions).cond(msg.valid)
            o.block("if ((%s) && !(%s))" % (cond, is_default_expr(f)))
            o("Writer& tw = tags.begin(%d);" % f.tag)
            o.block("")
            o("Writer& w = tw;")
            write_field(o, f, "true", msg)
            o.end()
            o.end()
        o("tags.add_unknown(unknown_tags);")
        o("tags.write_to(w);")
        o.end()
    o.end()
    o()
    # ---- read
    o.block("void %s::read(Reader& r, [[maybe_unused]] int16_t version)" % qual)
    o("[[maybe_unused]] const bool flex = %s;" % flex_init)
    for f in fields:
        cond = f.versions.cond(msg.valid)
        if cond == "false":
            continue
        if f.tag is not None:
            continue  # tagged fields live only in the tag section (checked by validate())
        if cond == "true":
            read_field(o, f, flex_expr(f), msg)
            continue
        o.block("if (%s)" % cond)
        read_field(o, f, flex_expr(f), msg)
        o.end()
    if any_flex:
        o.block("if (flex)")
        o("const uint32_t ntags = r.read_uvarint();")
        o('if (ntags > r.remaining()) r.fail("tag count past end of input");')
        o.block("for (uint32_t i = 0; i < ntags && r.ok(); ++i)")
        o("const uint32_t tag = r.read_uvarint();")
        o("const uint32_t size = r.read_uvarint();")
        o("Reader tr = r.sub(size);")
        o("if (!r.ok()) break;")
        o("bool known = false;")
        for f in sorted([f for f in fields if f.tag is not None], key=lambda f: f.tag):
            cond = f.tagged.intersect(f.versions).cond(msg.valid)
            o.block("if (tag == %d && (%s))" % (f.tag, cond))
            o("known = true;")
            o.block("")
            o("Reader& r = tr;")
            read_field(o, f, "true", msg)
            o.end()
            o("r.absorb(tr);")
            o.end()
        o("if (!known) unknown_tags.push_back(TaggedField{tag, tr.rest()});")
        o.end()
        o("sort_tags(unknown_tags);  // canonical order, as encode writes them")
        o.end()
    o.end()
    o()


def emit_message_decl(o, msg):
    o("// %s: versions %s, flexible %s." % (msg.name, msg.valid.text, msg.flexible.text))
    o.block("struct %s" % msg.name)
    if msg.api_key >= 0:
        o("static constexpr int16_t kApiKey = %d;" % msg.api_key)
    o("static constexpr int16_t kMinVersion = %d;" % msg.valid.lo)
    o("static constexpr int16_t kMaxVersion = %d;" % msg.valid.hi)
    o("static constexpr int16_t kFirstFlexible = %d;  // -1: never flexible" % msg.first_flexible())
    o()
    for s in msg.structs():
        emit_struct_decl(o, s.name, s.fields)
        o.end("};")
        o()
    for f in msg.fields:
        o("%s %s = %s;" % (f.cpp_type(), f.member, f.cpp_init()))
    o("// Tagged fields this code does not know; re-emitted on encode.")
    o("UnknownTags unknown_tags;")
    o()
    o("void write(Writer& w, int16_t version) const;")
    o("void read(Reader& r, int16_t version);")
    o("// Encodes/decodes the body at `version`; fails on an unsupported version or bad input.")
    o("[[nodiscard]] Status encode(Writer& w, int16_t version) const;")
    o("[[nodiscard]] Status decode(Reader& r, int16_t version);")
    o("bool operator==(const %s&) const = default;" % msg.name)
    o.end("};")
    o()


def emit_message_impl(o, msg):
    for s in msg.structs():
        emit_struct_impl(o, "%s::%s" % (msg.name, s.name), s.fields, msg)
    emit_struct_impl(o, msg.name, msg.fields, msg)
    o.block("Status %s::encode(Writer& w, int16_t version) const" % msg.name)
    o.block("if (version < kMinVersion || version > kMaxVersion)")
    o('return Status(Errc::kInvalidArgument, "%s: unsupported version " + std::to_string(version));'
      % msg.name)
    o.end()
    o("write(w, version);")
    o("return w.status();")
    o.end()
    o()
    o.block("Status %s::decode(Reader& r, int16_t version)" % msg.name)
    o.block("if (version < kMinVersion || version > kMaxVersion)")
    o('return Status(Errc::kInvalidArgument, "%s: unsupported version " + std::to_string(version));'
      % msg.name)
    o.end()
    o("*this = %s{};" % msg.name)
    o("read(r, version);")
    o("return r.status();")
    o.end()
    o()


HEADER_PRELUDE = """// Generated by src/kafka/protocol/generator.py from schemas/%s. Do not edit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/buf.h"
#include "base/result.h"
#include "kafka/protocol/wire.h"

namespace shale::kafka {
"""


def emit_file(out_dir, stem, msgs):
    h = Out()
    h(HEADER_PRELUDE % (stem + ".ks"))
    for m in msgs:
        emit_message_decl(h, m)
    h("}  // namespace shale::kafka")
    c = Out()
    c("// Generated by src/kafka/protocol/generator.py from schemas/%s.ks. Do not edit." % stem)
    c('#include "kafka/protocol/gen/%s.h"' % stem)
    c()
    c("#include <algorithm>")
    c()
    c("namespace shale::kafka {")
    c()
    for m in msgs:
        emit_message_impl(c, m)
    c("}  // namespace shale::kafka")
    write_if_changed(os.path.join(out_dir, stem + ".h"), h.text())
    write_if_changed(os.path.join(out_dir, stem + ".cc"), c.text())


def emit_tables(out_dir, stems, apis, headers):
    h = Out()
    h("// Generated by src/kafka/protocol/generator.py from schemas/*.ks. Do not edit.")
    h("#pragma once")
    h()
    h("#include <type_traits>")
    h()
    for s in stems:
        h('#include "kafka/protocol/gen/%s.h"' % s)
    h()
    h("namespace shale::kafka {")
    h()
    for kind in ("request", "response"):
        h("// Calls f(std::type_identity<XxxRequest/Response>{}) for api_key; false if unknown.")
        h("template <typename F>")
        h.block("bool visit_%s(int16_t api_key, F&& f)" % kind)
        h.block("switch (api_key)")
        for a in apis:
            h("case %d: f(std::type_identity<%s>{}); return true;" % (a.key, getattr(a, kind).name))
        h("default: return false;")
        h.end()
        h.end()
        h()
    h("}  // namespace shale::kafka")
    write_if_changed(os.path.join(out_dir, "messages.h"), h.text())

    c = Out()
    c("// Generated by src/kafka/protocol/generator.py from schemas/*.ks. Do not edit.")
    c('#include "kafka/protocol/api_table.h"')
    c()
    c("namespace shale::kafka {")
    c()
    c("static constexpr ApiInfo kApis[] = {")
    for a in apis:
        rq, rs = a.request, a.response
        if (rq.valid.lo, rq.valid.hi, rq.first_flexible()) != \
                (rs.valid.lo, rs.valid.hi, rs.first_flexible()):
            raise SchemaError("%s: request and response version ranges differ" % a.name)
        rh = int(rs.attrs.get("header", "-1"))
        c('    {%d, "%s", %d, %d, %d, %d},' % (a.key, a.name, rq.valid.lo, rq.valid.hi,
                                              rq.first_flexible(), rh))
    c("};")
    c()
    c("std::span<const ApiInfo> all_apis() { return kApis; }")
    c()
    c.block("const ApiInfo* find_api(int16_t api_key)")
    c("for (const ApiInfo& a : kApis)")
    c("  if (a.api_key == api_key) return &a;")
    c("return nullptr;")
    c.end()
    c()
    c("}  // namespace shale::kafka")
    write_if_changed(os.path.join(out_dir, "api_table.cc"), c.text())


def emit_markdown(apis):
    lines = ["| API key | Name | Min version | Max version | First flexible version |",
             "| ---: | --- | ---: | ---: | ---: |"]
    for a in apis:
        ff = a.request.first_flexible()
        lines.append("| %d | %s | %d | %d | %s |" % (a.key, a.name, a.request.valid.lo,
                                                  a.request.valid.hi, "none" if ff < 0 else ff))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ test emission


def fill_field(o, f, x, msg, depth):
    """Emits code setting field f (lvalue x) to a non-default value valid at `version`."""
    nullable = not f.nullable.empty()
    if nullable:
        ncond = f.nullable.cond(msg.valid)
        o.block("if ((%s) && seed %% 5 == 0)" % ncond)
        o("++seed;")
        o("%s = std::nullopt;" % x)
        if f.null_by_default():
            # null is the default; leave it to exercise the "not written" path.
            pass
        o.end("} else {")
        o.ind += 1
        # Assignment, not emplace(): clang caches is_constructible of nested structs too early.
        o("%s = std::remove_reference_t<decltype(*%s)>{};" % (x, x))
        o("auto& val = *%s;" % x)
        fill_value(o, f, "val", msg, depth)
        o.end()
    else:
        fill_value(o, f, x, msg, depth)


def fill_value(o, f, x, msg, depth):
    if f.is_array:
        o("%s.clear();" % x)
        o.block("for (int i = 0; i < 2; ++i)")
        o("auto& e = %s.emplace_back();" % x)
        fill_elem(o, f, "e", msg, depth + 1)
        o.end()
    else:
        fill_elem(o, f, x, msg, depth)


def fill_elem(o, f, x, msg, depth):
    b = f.base
    if b == "bool":
        o("%s = !%s;" % (x, f.cpp_value_default() if not f.is_array else "false"))
    elif b == "uuid":
        o("%s.bytes[0] = static_cast<uint8_t>(seed++); %s.bytes[15] = 1;" % (x, x))
    elif b == "float64":
        o("%s = seed++ + 0.5;" % x)
    elif b in SCALARS:
        o("%s = static_cast<%s>(seed++ %% 100 + 1);" % (x, SCALARS[b][0]))
    elif b == "string":
        o("%s = test_string('s', seed++);" % x)
    elif b == "bytes":
        o("%s = Buf::copy(test_string('b', seed++));" % x)
    elif b == "records":
        o("%s = test_records(seed++);" % x)
    else:
        o("fill(%s, version, seed);" % x)


def emit_fill(o, qual, fields, msg):
    o.block("[[maybe_unused]] void fill(%s& m, [[maybe_unused]] int16_t version, int& seed)" % qual)
    o("[[maybe_unused]] const bool flex = %s;" % (
        "false" if msg.first_flexible() < 0 else "version >= %d" % msg.first_flexible()))
    for f in fields:
        cond = f.versions.cond(msg.valid)
        if cond == "false":
            continue
        o.block("if (%s)" % cond)
        fill_field(o, f, "m." + f.member, msg, 0)
        o.end()
    o.end()
    o()


def emit_test(out_dir, apis, headers):
    o = Out()
    o("// Generated by src/kafka/protocol/generator.py. Do not edit.")
    o("// Round-trips every message at every valid version: fill with non-default values, encode,")
    o("// decode, compare structs, re-encode, compare bytes.")
    o('#include <gtest/gtest.h>')
    o()
    o('#include "kafka/protocol/gen/messages.h"')
    o('#include "kafka/protocol/gen/headers.h"')
    o()
    o("namespace shale::kafka {")
    o("namespace {")
    o()
    o.block("std::string test_string(char prefix, int seed)")
    o("std::string s(1, prefix);")
    o("s.append(std::to_string(seed));")
    o("return s;")
    o.end()
    o()
    o.block("Buf test_records(int seed)")
    o("// Alternate small and large payloads so both the copy and the zero-copy paths run.")
    o("std::vector<uint8_t> v(seed % 2 ? 2000 : 61);")
    o("for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(seed + i);")
    o("return Buf::take(std::move(v));")
    o.end()
    o()
    msgs = [m for a in apis for m in (a.request, a.response)] + headers
    # Declarations first: structs may refer to each other in any order.
    for m in msgs:
        for s in m.structs():
            o("void fill(%s::%s& m, int16_t version, int& seed);" % (m.name, s.name))
        o("void fill(%s& m, int16_t version, int& seed);" % m.name)
    o()
    for m in msgs:
        for s in m.structs():
            emit_fill(o, "%s::%s" % (m.name, s.name), s.fields, m)
        emit_fill(o, m.name, m.fields, m)
    o("template <typename T>")
    o.block("void round_trip_all()")
    o.block("for (int16_t v = T::kMinVersion; v <= T::kMaxVersion; ++v)")
    o("SCOPED_TRACE(testing::Message() << \"version \" << v);")
    o.block("for (int seed0 : {1, 2, 3, 5})")
    o("T m;")
    o("int seed = seed0;")
    o("fill(m, v, seed);")
    o("if (T::kFirstFlexible >= 0 && v >= T::kFirstFlexible)")
    o('  m.unknown_tags.push_back(TaggedField{9999, Buf::copy("unknown")});')
    o("Writer w;")
    o("ASSERT_TRUE(m.encode(w, v).ok());")
    o("std::vector<uint8_t> bytes = w.finish();")
    o("ASSERT_EQ(bytes.size(), w.size());")
    o("Reader r(Buf::copy(bytes.data(), bytes.size()));")
    o("T d;")
    o("Status st = d.decode(r, v);")
    o("ASSERT_TRUE(st.ok()) << st.to_string();")
    o("EXPECT_EQ(r.remaining(), 0u);")
    o("EXPECT_TRUE(d == m);")
    o("Writer w2;")
    o("ASSERT_TRUE(d.encode(w2, v).ok());")
    o("EXPECT_EQ(w2.finish(), bytes);")
    o("// Every strict prefix must fail cleanly (bounds checks), never crash.")
    o.block("for (size_t cut = 0; cut < bytes.size(); cut += 1 + bytes.size() / 16)")
    o("Reader pr(Buf::copy(bytes.data(), cut));")
    o("T p;")
    o("EXPECT_FALSE(p.decode(pr, v).ok()) << \"a prefix of \" << cut << \" bytes decoded\";")
    o.end()
    o.end()
    o.end()
    o.end()
    o()
    for m in msgs:
        o("TEST(RoundTrip, %s) { round_trip_all<%s>(); }" % (m.name, m.name))
    o()
    o("}  // namespace")
    o("}  // namespace shale::kafka")
    write_if_changed(os.path.join(out_dir, "roundtrip_test.cc"), o.text())


def write_if_changed(path, text):
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--out")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    files = sorted(f for f in os.listdir(args.schemas) if f.endswith(".ks"))
    per_file, apis, headers = [], [], []
    try:
        for fn in files:
            a, h = parse_file(os.path.join(args.schemas, fn))
            per_file.append((fn[:-3], [m for x in a for m in (x.request, x.response)] + h))
            apis += a
            headers += h
        apis.sort(key=lambda a: a.key)
        keys = [a.key for a in apis]
        if len(set(keys)) != len(keys):
            raise SchemaError("duplicate api key")
        for _, msgs in per_file:
            for m in msgs:
                validate(m)
    except SchemaError as e:
        print("schema error: %s" % e, file=sys.stderr)
        return 1
    if args.markdown:
        sys.stdout.write(emit_markdown(apis))
        return 0
    os.makedirs(args.out, exist_ok=True)
    for stem, msgs in per_file:
        emit_file(args.out, stem, msgs)
    emit_tables(args.out, [s for s, _ in per_file], apis, headers)
    emit_test(args.out, apis, headers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
