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
Modules: schema.py (parse + validate), generator.py (C++ messages and tables), emit_tests.py
(the generated round-trip test), emit_util.py (output helpers).
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

from emit_util import Out, write_if_changed
from emit_tests import emit_test
from schema import SCALARS, SchemaError, parse_file, validate


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
