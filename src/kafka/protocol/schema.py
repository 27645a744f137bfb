"""Parser and validator for Shale's Kafka schema files (schemas/*.ks; format in README.md).

Builds the model (Api, Message, Field, Versions) that generator.py emits C++ from.
"""

import re

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
            # A schema may write a string default quoted (default="" or default="abc").
            if d and len(d) >= 2 and d[0] == d[-1] == '"':
                d = d[1:-1]
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
