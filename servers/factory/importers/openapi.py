"""OpenAPI 3.x and Swagger 2.0 -> ApiModel: one shared walk, with the two formats differing only in how
parameters, request bodies and responses are spelled.

What the importer decides, and why:

* Tool names. From `operationId` when it is an identifier (`tasks.tasklists.list`, `GetVaultById`): dotted ids lose
  the leading segments common to every id (Google's `calendar.`, `fitness.users.`), then everything is snake_case
  (`tasklists_list`, `get_vault_by_id`). Ids that are really paths (HubSpot's `get-/files/v3/files`) are ignored.
  Without a usable id the name comes from method + path (see `derive_name`): `GET /users/{user_id}/playlists` ->
  `list_user_playlists`, `POST /updates/{id}/destroy{mediaTypeExtension}` -> `destroy_update`. Clashes get
  `_by_<last path param>`, then `_2`, `_3` (in file order, so names are stable). At most 64 characters.
* Arguments. Path parameters are required; query/header parameters as declared; an object request body is
  flattened into top-level arguments (a clash with a path/query name gets a `body_` prefix), anything else is one
  `body` argument. Names are snake_case Python identifiers; a generic path `{id}` becomes `<resource>_id` so that
  tools link by argument name (`profile_id`, `update_id`).
* Noise. Credentials (auth headers, API keys, tokens, the names of apiKey security schemes), Google's global
  query parameters, content negotiation headers and `{mediaTypeExtension}` path suffixes are removed and recorded,
  aggregated, in `ApiModel.dropped`; so are plumbing operations (Google `watch`/`channels.stop`, health, heartbeat,
  metrics).
* Schemas. `$ref`s are inlined (recursion, or nesting deeper than MAX_REF_DEPTH, is cut to a plain object),
  `nullable` becomes a type list, `example` becomes `examples`, Swagger `type: file` becomes a binary string,
  OpenAPI 3.0 boolean `exclusiveMinimum` becomes the 2020-12 number form, vendor keys (`x-...`, `xml`,
  `discriminator`) go. Output schemas are objects: arrays are wrapped as `{"items": [...]}`, scalars as `{"result"}`.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from ..apimodel import ApiModel, Location, Method, Operation, Param
from .common import (
    ImportFailure,
    annotations_from,
    arg_name,
    clean_text,
    input_schema,
    is_plural,
    singular,
    snake,
    unique_tool_name,
)

# The path-item keys that are operations, each as the Method it becomes (TRACE is reported and dropped).
HTTP_METHODS: dict[str, Method] = {"get": "get", "put": "put", "post": "post", "delete": "delete", "patch": "patch",
                                   "head": "head", "options": "options"}
MAX_REF_DEPTH = 4

GOOGLE_GLOBALS = frozenset({"$.xgafv", "alt", "callback", "fields", "key", "oauth_token", "prettyPrint", "quotaUser",
                            "upload_protocol", "uploadType", "access_token"})
AUTH_PARAMS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api_key", "api-key", "apikey",
                         "access_token", "oauth_token", "key", "token", "auth_token", "x-auth-token"})
NEGOTIATION_HEADERS = frozenset({"accept", "accept-encoding", "accept-charset", "content-type", "content-length"})
PLUMBING_PATHS = re.compile(r"^/(health|healthz|heartbeat|metrics|livez|readyz|ping)/?$")

# Leading words of a final path segment (or a Google `:action`) that name an action rather than a resource.
ACTION_VERBS = frozenset("""
    search contains check create update delete destroy remove share move reorder shuffle cancel send clear import
    export validate activate deactivate retry bypass download upload copy modify query aggregate batch stop watch
    start login logout test verify approve reject archive unarchive restore publish unpublish refund capture complete
    close open lock unlock merge duplicate generate rename reset resend invite join leave follow unfollow subscribe
    unsubscribe count lookup find preview submit execute run trigger sync""".split())
VERB_ALIASES = {"contains": "check"}
DESTRUCTIVE_WORDS = frozenset({"delete", "destroy", "remove", "cancel", "clear", "purge", "revoke", "reject", "erase",
                               "wipe", "unfollow", "unsubscribe", "stop", "deactivate", "void"})
VERSION_SEGMENT = re.compile(r"^(v\d+([._]\d+)*([a-z]+\d*)?|\d+(\.\d+)*)$", re.I)
_READ_ONLY_TEXT = re.compile(r"^output only\b|\bis (read-only|output only)\b|\bthis (field|collection) is read-only",
                            re.I)
_OPERATION_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")

_SCHEMA_KEYS = frozenset({
    "type", "format", "enum", "const", "default", "title", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems",
    "minProperties", "maxProperties", "readOnly", "writeOnly", "deprecated", "contentMediaType", "contentEncoding"})
_JSON_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
_SWAGGER_PARAM_SCHEMA_KEYS = frozenset({
    "type", "format", "items", "enum", "default", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "multipleOf", "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems"})

# An OpenAPI `in` that becomes a tool argument of its own (a body is flattened, formData folded, cookies dropped).
PARAM_LOCATIONS: dict[str, Location] = {"path": "path", "query": "query", "header": "header"}


@dataclass
class _RawOp:
    method: Method
    path: str
    spec: dict[str, Any]
    path_params: list[Any]


@dataclass
class _Drops:
    """Dropped things, aggregated: one line per (what, why) with a count, not 400 lines of `alt`."""

    ops: list[str] = field(default_factory=list)
    params: dict[tuple[str, str], int] = field(default_factory=dict)

    def param(self, what: str, why: str) -> None:
        self.params[(what, why)] = self.params.get((what, why), 0) + 1

    def lines(self) -> list[str]:
        out = list(self.ops)
        for (what, why), n in self.params.items():
            out.append(f"parameter {what}: {why} ({n} operation{'s' if n != 1 else ''})")
        return out


class _Schemas:
    """Resolves local `$ref`s and rewrites OpenAPI schema dialects into plain JSON Schema 2020-12."""

    def __init__(self, doc: dict[str, Any]):
        self.doc = doc
        self.cuts = 0

    def target(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise ImportFailure(f"external $ref {ref!r} is not supported (only local '#/...' references)")
        node: Any = self.doc
        for part in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else []:
            part = urllib.parse.unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise ImportFailure(f"unresolvable $ref {ref!r}")
        return node

    def deref(self, node: Any) -> Any:
        """Follow a chain of `$ref`s (parameters, responses, request bodies, path items)."""
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            if node["$ref"] in seen:
                return {}
            seen.add(node["$ref"])
            node = self.target(node["$ref"])
        return node

    def convert(self, node: Any, stack: tuple[str, ...] = ()) -> dict[str, Any]:
        if isinstance(node, bool):
            return {} if node else {"not": {}}
        if not isinstance(node, dict):
            return {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if ref in stack or len(stack) >= MAX_REF_DEPTH:
                self.cuts += 1
                return {"type": "object", "description": f"A {name} object (recursive reference, not expanded)."}
            expanded = self.convert(self.target(ref), (*stack, ref))
            if isinstance(node.get("description"), str) and node["description"].strip():
                expanded = {**expanded, "description": clean_text(node["description"], 500)}
            return expanded
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                out["properties"] = {str(k): self.convert(v, stack) for k, v in value.items()}
            elif key in ("items", "not") and isinstance(value, dict):
                out[key] = self.convert(value, stack)
            elif key == "items" and isinstance(value, list):  # tuple form: keep the first shape
                out[key] = self.convert(value[0], stack) if value else {}
            elif key == "additionalProperties":
                out[key] = self.convert(value, stack) if isinstance(value, dict) else bool(value)
            elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
                out[key] = [self.convert(v, stack) for v in value if isinstance(v, dict | bool)]
            elif key == "description":
                text = clean_text(value, 500)
                if text:
                    out[key] = text
            elif key == "example":
                out.setdefault("examples", [value])
            elif key == "examples":
                if isinstance(value, list):
                    out["examples"] = value
                elif isinstance(value, dict):  # OpenAPI example map {name: {value: ...}}
                    vals = [v["value"] for v in value.values() if isinstance(v, dict) and "value" in v]
                    if vals:
                        out["examples"] = vals
            elif key == "required":
                if isinstance(value, list):
                    names = list(dict.fromkeys(str(v) for v in value))
                    if names:
                        out[key] = names
            elif key == "type":
                if value == "file":
                    out["type"], out["format"] = "string", "binary"
                elif isinstance(value, str) and value in _JSON_TYPES:
                    out["type"] = value
                elif isinstance(value, list):
                    types = [t for t in value if t in _JSON_TYPES]
                    if types:
                        out["type"] = types if len(types) > 1 else types[0]
            elif key == "pattern":
                if isinstance(value, str) and _valid_regex(value):
                    out[key] = value
            elif key in _SCHEMA_KEYS:
                out[key] = value
        return _normalise(out, nullable=node.get("nullable") is True or node.get("x-nullable") is True)


def _valid_regex(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _normalise(out: dict[str, Any], nullable: bool) -> dict[str, Any]:
    """OpenAPI 3.0 spellings that JSON Schema 2020-12 rejects or reads differently."""
    for bound, excl in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(out.get(excl), bool):
            exclusive = out.pop(excl)
            if exclusive and bound in out:
                out[excl] = out.pop(bound)
    for key in ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"):
        if key in out and not (isinstance(out[key], int) and out[key] >= 0):
            del out[key]
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
        if key in out and (isinstance(out[key], bool) or not isinstance(out[key], int | float)):
            del out[key]
    if "multipleOf" in out and out["multipleOf"] <= 0:
        del out["multipleOf"]
    if "enum" in out and not (isinstance(out["enum"], list) and out["enum"]):
        del out["enum"]
    if "uniqueItems" in out and not isinstance(out["uniqueItems"], bool):
        del out["uniqueItems"]
    if "allOf" in out:
        _merge_all_of(out)
    if "type" not in out and ("properties" in out or "additionalProperties" in out):
        out["type"] = "object"
    if nullable:
        t = out.get("type")
        if isinstance(t, str) and t != "null":
            out["type"] = [t, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


_MERGEABLE = frozenset({"type", "properties", "required", "description", "title", "additionalProperties", "examples"})


def _merge_all_of(out: dict[str, Any]) -> None:
    """`allOf` of plain object schemas (the usual OpenAPI inheritance) becomes one object; bodies can then flatten."""
    parts = out["allOf"]
    if not parts or not all(set(p) <= _MERGEABLE and p.get("type", "object") == "object" for p in parts):
        return
    if out.get("type", "object") != "object":
        return
    props: dict[str, Any] = dict(out.get("properties", {}))
    required: list[str] = list(out.get("required", []))
    for p in parts:
        props.update(p.get("properties", {}))
        required += [r for r in p.get("required", []) if r not in required]
        if "description" in p:
            out.setdefault("description", p["description"])
    del out["allOf"]
    out["type"] = "object"
    if props:
        out["properties"] = props
    if required:
        out["required"] = required


# --------------------------------------------------------------------------------------------------- importer


class OpenApiImporter:
    """One pass over a parsed OpenAPI 3.x or Swagger 2.0 document."""

    def __init__(self, doc: dict[str, Any], *, source: str, sha256: str | None, name: str, swagger: bool):
        self.doc = doc
        self.source = source
        self.sha256 = sha256
        self.name = name
        self.swagger = swagger
        self.schemas = _Schemas(doc)
        self.drops = _Drops()
        self.auth_names = self._auth_names()
        self.google = self._looks_google()

    # ----------------------------------------------------------------------------------------------- inputs

    def _auth_names(self) -> set[str]:
        """Names of credentials the spec itself declares (apiKey security schemes), lower-cased."""
        if self.swagger:
            schemes = self.doc.get("securityDefinitions") or {}
        else:
            schemes = (self.doc.get("components") or {}).get("securitySchemes") or {}
        names = set()
        for scheme in schemes.values() if isinstance(schemes, dict) else []:
            scheme = self.schemas.deref(scheme)
            if isinstance(scheme, dict) and scheme.get("type") == "apiKey" and isinstance(scheme.get("name"), str):
                names.add(scheme["name"].lower())
        return names

    def _looks_google(self) -> bool:
        info = self.doc.get("info") or {}
        origins = info.get("x-origin") or []
        formats = {o.get("format") for o in origins if isinstance(o, dict)} if isinstance(origins, list) else set()
        return info.get("x-providerName") == "googleapis.com" or "google" in formats

    def _raw_ops(self) -> list[_RawOp]:
        paths = self.doc.get("paths")
        if not isinstance(paths, dict) or not paths:
            raise ImportFailure(f"{self.source}: the spec has no paths, so there are no operations to import")
        ops = []
        for path, item in paths.items():
            item = self.schemas.deref(item)
            if not isinstance(item, dict):
                continue
            for method, spec in item.items():
                if method == "trace":
                    self.drops.ops.append(f"operation TRACE {path}: TRACE is not a tool")
                http_method = HTTP_METHODS.get(method)
                if http_method is not None and isinstance(spec, dict):
                    ops.append(_RawOp(http_method, str(path), spec, list(item.get("parameters") or [])))
        if not ops:
            raise ImportFailure(f"{self.source}: the spec has paths but no operations")
        return ops

    def _plumbing(self, op: _RawOp) -> str | None:
        """Why an operation is infrastructure rather than API surface (None if it is not)."""
        opid = str(op.spec.get("operationId") or "")
        if self.google and (opid.endswith(".watch") or opid.endswith("channels.stop")):
            return "push-notification channel plumbing"
        if PLUMBING_PATHS.match(op.path):
            return "server health/metrics plumbing"
        return None

    def _noise(self, name: str, loc: str, path: str) -> str | None:
        low = name.lower()
        if loc == "cookie":
            return "cookie parameter"
        if loc in ("query", "header") and (low in AUTH_PARAMS or low in self.auth_names):
            return "credential"
        if loc == "header" and re.search(r"token|api-?key|auth", low):
            return "credential header"
        if loc == "header" and low in NEGOTIATION_HEADERS:
            return "content negotiation header"
        if loc == "query" and self.google and name in GOOGLE_GLOBALS:
            return "Google global parameter"
        if loc == "path" and re.search(r"[^/]\{" + re.escape(name) + r"\}(?=/|$)", path):
            return "media-type suffix in the path"
        return None

    # ----------------------------------------------------------------------------------------------- run

    def run(self) -> ApiModel:
        raw = self._raw_ops()
        kept = []
        for op in raw:
            why = self._plumbing(op)
            if why:
                self.drops.ops.append(f"operation {op.spec.get('operationId') or op.method.upper() + ' ' + op.path}:"
                                      f" {why}")
            else:
                kept.append(op)
        if not kept:
            raise ImportFailure(f"{self.source}: every operation is infrastructure plumbing; nothing to import")
        base_names = self._base_names(kept)
        taken: set[str] = set()
        operations = []
        for op, base in zip(kept, base_names, strict=True):
            last_param = next((s[1:-1] for s in reversed(op.path.split("/")) if s.startswith("{")), None)
            tool = unique_tool_name(base, taken, alt=last_param)
            operations.append(self._operation(op, tool))
        info = self.doc.get("info")
        info = info if isinstance(info, dict) else {}
        cats = info.get("x-apisguru-categories")
        return ApiModel(
            name=self.name,
            title=str(info.get("title") or self.name),
            version=str(info.get("version") or "0.1.0"),
            description=clean_text(info.get("description"), 1000),
            domain=", ".join(str(c) for c in cats) if isinstance(cats, list) else "",
            source=self.source,
            source_sha256=self.sha256,
            importer="swagger2" if self.swagger else "openapi3",
            operations=operations,
            schemas=self._named_schemas(),
            dropped=self.drops.lines(),
        )

    def _named_schemas(self) -> dict[str, dict[str, Any]]:
        raw = self.doc.get("definitions") if self.swagger else (self.doc.get("components") or {}).get("schemas")
        if not isinstance(raw, dict):
            return {}
        prefix = "#/definitions/" if self.swagger else "#/components/schemas/"
        return {str(k): self.schemas.convert(v, (prefix + str(k),)) for k, v in raw.items()}

    # ----------------------------------------------------------------------------------------------- names

    def _base_names(self, ops: list[_RawOp]) -> list[str]:
        ids = [o.spec.get("operationId") for o in ops]
        ids = [i if isinstance(i, str) and _OPERATION_ID.match(i) else None for i in ids]
        dotted = [i.split(".") for i in ids if i and "." in i]
        strip = 0
        if dotted and len(dotted) == sum(1 for i in ids if i):
            while all(len(d) - strip >= 3 for d in dotted) and len({d[strip] for d in dotted}) == 1:
                strip += 1
        names = []
        for op, opid in zip(ops, ids, strict=True):
            if opid is None:
                names.append(derive_name(op.method, op.path, self._suffix_params(op)))
            elif "." in opid:
                names.append("_".join(snake(s) for s in opid.split(".")[strip:] if snake(s)))
            else:
                names.append(snake(opid))
        return names

    def _suffix_params(self, op: _RawOp) -> set[str]:
        return {m for m in re.findall(r"[^/]\{([^}/]+)\}(?=/|$)", op.path)}

    # ----------------------------------------------------------------------------------------------- one op

    def _operation(self, op: _RawOp, tool: str) -> Operation:
        params, body_schema = self._params(op)
        response = self._response(op.spec)
        summary = clean_text(op.spec.get("summary"), 200)
        details = clean_text(op.spec.get("description"), 1000)
        if summary and details and not details.lower().startswith(summary.lower().rstrip(".")):
            text = clean_text(f"{summary}\n\n{details}", 1000)
        else:
            text = details or summary or f"{humanize(tool)} ({op.method.upper()} {op.path})."
        title = summary if summary and len(summary) <= 80 and "\n" not in summary else humanize(tool)
        opid = op.spec.get("operationId")
        return Operation(
            tool=tool,
            operation_id=opid if isinstance(opid, str) else None,
            method=op.method,
            path=op.path,
            summary=summary,
            description=text,
            tags=[str(t) for t in op.spec.get("tags") or [] if isinstance(t, str | int)],
            params=params,
            body_schema=body_schema,
            response_schema=response,
            input_schema=input_schema(params),
            output_schema=output_schema(response),
            annotations=method_annotations(op.method, tool, opid if isinstance(opid, str) else "", title),
        )

    def _params(self, op: _RawOp) -> tuple[list[Param], dict[str, Any] | None]:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for p in [*op.path_params, *(op.spec.get("parameters") or [])]:
            p = self.schemas.deref(p)
            if isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("in"), str):
                merged[(p["name"], p["in"])] = p
        taken: set[str] = set()
        params: list[Param] = []
        body_schema: dict[str, Any] | None = None
        body_required = False
        body_text = ""
        form: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for (orig, loc), p in merged.items():
            why = self._noise(orig, loc, op.path)
            if why:
                self.drops.param(f"{orig} ({loc})", why)
                continue
            if loc == "body":
                body_schema = self.schemas.convert(p.get("schema") or {})
                body_required = bool(p.get("required"))
                body_text = clean_text(p.get("description"), 500)
                continue
            schema = self._param_schema(p)
            if loc == "formData":
                form["properties"][orig] = {**schema, **({"description": clean_text(p.get("description"), 500)}
                                                         if p.get("description") else {})}
                if p.get("required"):
                    form["required"].append(orig)
                continue
            location = PARAM_LOCATIONS.get(loc)
            if location is None:
                continue
            name = arg_name(self._path_arg(orig, op.path) if loc == "path" else orig, taken)
            text = clean_text(p.get("description"), 500) or schema.pop("description", "") or \
                self._default_text(orig, loc, op.path)
            schema.pop("description", None)
            params.append(Param(name=name, original=orig, location=location, required=loc == "path" or bool(
                p.get("required")), description=text, schema=schema))
        if not self.swagger:
            body_schema, body_required, body_text = self._request_body(op.spec)
        elif form["properties"] and body_schema is None:
            body_schema, body_required = form, bool(form["required"])
            if not form["required"]:
                del form["required"]
        if body_schema is not None:
            params += self._body_params(body_schema, body_required, body_text, taken)
        return params, body_schema

    def _request_body(self, spec: dict[str, Any]) -> tuple[dict[str, Any] | None, bool, str]:
        rb = self.schemas.deref(spec.get("requestBody"))
        if not isinstance(rb, dict):
            return None, False, ""
        content = rb.get("content") or {}
        media = _pick_media(content, body=True)
        if media is None:
            return None, False, ""
        schema = self.schemas.convert((content[media] or {}).get("schema") or {})
        if not schema and "json" not in media and "form" not in media:
            schema = {"type": "string", "format": "binary"}
        return schema, bool(rb.get("required")), clean_text(rb.get("description"), 500)

    def _body_params(self, body: dict[str, Any], required: bool, text: str, taken: set[str]) -> list[Param]:
        props = body.get("properties") if body.get("type") in ("object", ["object", "null"]) else None
        if not isinstance(props, dict) or not props:
            schema = strip_read_only({k: v for k, v in body.items() if k != "description"})
            return [Param(name=arg_name("body", taken), original="body", location="body", required=required,
                          description=text or body.get("description") or "The request body.", schema=schema)]
        out = []
        must = set(body.get("required") or [])
        for orig, prop in props.items():
            if prop.get("readOnly") is True or _READ_ONLY_TEXT.search(str(prop.get("description", ""))):
                continue  # server-assigned (ids, timestamps): not something a caller sends
            schema = strip_read_only({k: v for k, v in prop.items() if k not in ("description", "readOnly")})
            wanted = snake(orig) or "field"
            name = arg_name(wanted if wanted not in taken else f"body_{wanted}", taken)
            out.append(Param(name=name, original=orig, location="body", required=orig in must,
                             description=prop.get("description") or f"`{orig}` field of the request body.",
                             schema=schema))
        return out

    def _param_schema(self, p: dict[str, Any]) -> dict[str, Any]:
        if isinstance(p.get("schema"), dict):
            schema = self.schemas.convert(p["schema"])
        elif isinstance(p.get("content"), dict) and p["content"]:
            first = next(iter(p["content"].values())) or {}
            schema = self.schemas.convert(first.get("schema") or {})
        else:  # Swagger 2.0: the schema keywords sit on the parameter itself
            schema = self.schemas.convert({k: v for k, v in p.items() if k in _SWAGGER_PARAM_SCHEMA_KEYS})
        extra = self.schemas.convert({k: p[k] for k in ("example", "examples") if k in p})
        if "examples" in extra:
            schema["examples"] = extra["examples"]
        return schema

    def _path_arg(self, orig: str, path: str) -> str:
        """A generic `{id}` becomes `<resource>_id` (`/profiles/{id}` -> `profile_id`)."""
        if orig.lower() not in ("id", "uuid", "key"):
            return orig
        noun = _preceding_literal(orig, _strip_suffix_params(path))
        if not noun or noun.endswith(("_id", "id")):
            return orig
        return f"{singular(noun)}_{snake(orig)}"

    def _default_text(self, orig: str, loc: str, path: str) -> str:
        if loc == "path":
            noun = _preceding_literal(orig, _strip_suffix_params(path))
            if noun and re.search(r"(^|_)(id|uuid|key|name)$", snake(orig)):
                return f"Identifier of the {singular(noun).replace('_', ' ')} (path parameter `{orig}`)."
            return f"Path parameter `{orig}`."
        return f"`{orig}` {loc} parameter."

    def _response(self, spec: dict[str, Any]) -> dict[str, Any] | None:
        responses = spec.get("responses") or {}
        if not isinstance(responses, dict):
            return None
        codes = sorted(str(c) for c in responses if re.fullmatch(r"2(\d\d|XX)", str(c)))
        for code in codes:
            r = self.schemas.deref(responses[code])
            if not isinstance(r, dict):
                continue
            if self.swagger:
                produces = spec.get("produces") or self.doc.get("produces") or ["application/json"]
                if isinstance(r.get("schema"), dict) and any("json" in str(m) or m == "*/*" for m in produces):
                    schema = self.schemas.convert(r["schema"])
                    if schema.get("format") != "binary":
                        return schema
            else:
                content = r.get("content") or {}
                media = _pick_media(content, body=False)
                if media and isinstance((content[media] or {}).get("schema"), dict):
                    return self.schemas.convert(content[media]["schema"])
        return None


def strip_read_only(schema: Any) -> Any:
    """Input schemas leave out server-assigned (`readOnly`) fields at every depth: a caller never sends them."""
    if isinstance(schema, list):
        return [strip_read_only(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            kept = {k: strip_read_only(v) for k, v in value.items()
                    if not (isinstance(v, dict) and v.get("readOnly") is True)}
            out[key] = kept
            if isinstance(schema.get("required"), list):
                out["required"] = [r for r in schema["required"] if r in kept or r not in value]
        elif key == "required" and "properties" in schema:
            continue
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = strip_read_only(value)
        else:
            out[key] = value
    if out.get("required") == []:
        del out["required"]
    return out


def _pick_media(content: Any, *, body: bool) -> str | None:
    if not isinstance(content, dict) or not content:
        return None
    keys = [str(k) for k in content]
    for test in (lambda k: k == "application/json", lambda k: "json" in k, lambda k: k == "*/*"):
        for k in keys:
            if test(k.split(";")[0].strip().lower()):
                return k
    if body:
        for k in keys:
            if "form" in k:
                return k
        return keys[0]
    return None


def _strip_suffix_params(path: str) -> str:
    """`/profiles/{id}{mediaTypeExtension}` -> `/profiles/{id}`."""
    return re.sub(r"(?<=[^/])\{[^}/]+\}(?=/|$)", "", path)


def _preceding_literal(param: str, path: str) -> str | None:
    segs = [s for s in path.split("/") if s]
    for i, s in enumerate(segs):
        if s == "{" + param + "}":
            prev = segs[i - 1] if i else ""
            prev = prev.split(":")[0]
            return snake(prev) if prev and "{" not in prev and not VERSION_SEGMENT.match(prev) else None
    return None


# --------------------------------------------------------------------------------------------------- naming


def derive_name(method: str, path: str, suffix_params: set[str] | None = None) -> str:
    """A tool name from method + path, for specs without operationIds.

    Segments up to an API version (`/files/v3`, `/v1`) are dropped, and so are `{mediaTypeExtension}`-style suffixes.
    A literal before an id parameter is singular (`users/{user_id}` -> `user`), repeated nouns collapse. If the last
    literal (or a Google `:action`) starts with a verb (`destroy`, `move_to_top`, `search`), that verb leads:
    `POST /updates/{id}/destroy` -> `destroy_update`. Otherwise the verb comes from the method: GET item -> `get_`,
    GET collection -> `list_` (a plural literal after the last parameter) or `get_`, POST -> `create_` (singular),
    PUT item -> `replace_`, PUT sub-resource -> `update_`, PATCH -> `update_`, DELETE -> `delete_`.
    """
    for p in suffix_params or ():
        path = path.replace("{" + p + "}", "")
    segs = [s for s in path.split("/") if s]
    for i, s in enumerate(segs[:3]):
        if VERSION_SEGMENT.match(s):
            segs = segs[i + 1:]
            break
    action: str | None = None
    if segs and ":" in segs[-1]:
        head, action = segs[-1].split(":", 1)
        segs = [*segs[:-1], head] if head else segs[:-1]
    tokens: list[tuple[bool, str]] = []  # (is_param, snake text)
    for s in segs:
        if s.startswith("{") and s.endswith("}"):
            tokens.append((True, snake(s[1:-1])))
        elif snake(s) and snake(s) != "async":
            tokens.append((False, snake(s)))
    if action is None and tokens and not tokens[-1][0] and tokens[-1][1].split("_")[0] in ACTION_VERBS:
        action = tokens.pop()[1]
    item = bool(tokens) and tokens[-1][0]
    nouns: list[str] = []
    for i, (is_param, text) in enumerate(tokens):
        if is_param:
            continue
        followed_by_id = i + 1 < len(tokens) and tokens[i + 1][0]
        noun = singular(text) if followed_by_id else text
        if not nouns or nouns[-1] != noun:
            nouns.append(noun)
    last_param = max((i for i, (is_param, _) in enumerate(tokens) if is_param), default=-1)
    tail = [text for is_param, text in tokens[last_param + 1:] if not is_param]
    if action is not None:
        verb = snake(action)
        first = verb.split("_")[0]
        if first in VERB_ALIASES:
            verb = VERB_ALIASES[first] + verb[len(first):]
        if verb == "create" and nouns:
            nouns[-1] = singular(nouns[-1])
    elif method == "get":
        verb = "list" if not item and any(is_plural(t) for t in tail) else "get"
    elif method == "post":
        verb = "update" if item else "create"
        if not item and nouns:
            nouns[-1] = singular(nouns[-1])
    elif method == "put":
        verb = "replace" if item else "update"
    elif method == "patch":
        verb = "update"
    elif method == "delete":
        verb = "delete"
    elif method == "head":
        verb = "check"
    else:
        verb = method
    return "_".join([verb, *nouns]) if nouns else verb


def humanize(tool: str) -> str:
    return tool.replace("_", " ").strip().capitalize()


def method_annotations(method: str, tool: str, operation_id: str, title: str | None = None) -> Any:
    """MCP hints from the HTTP method; a POST whose name says delete/cancel/clear is destructive."""
    words = set(snake(tool).split("_")) | set(snake(operation_id).split("_"))
    if method in ("get", "head", "options"):
        return annotations_from(True, False, True, title)
    if method == "delete":
        return annotations_from(False, True, True, title)
    if method == "put":
        return annotations_from(False, True, True, title)
    if method == "patch":
        return annotations_from(False, False, False, title)
    return annotations_from(False, bool(words & DESTRUCTIVE_WORDS), False, title)


def output_schema(response: dict[str, Any] | None) -> dict[str, Any]:
    """MCP structured content is an object: keep objects, wrap arrays as `items` and anything else as `result`."""
    if not response:
        return {"type": "object", "properties": {}}
    t = response.get("type")
    if t == "object" or (isinstance(t, list) and "object" in t and "array" not in t):
        return {**response, "type": "object"}
    if t == "array" or (isinstance(t, list) and "array" in t):
        return {"type": "object", "properties": {"items": response}}
    if t is None and not ({"anyOf", "oneOf", "allOf", "enum", "const", "not"} & set(response)):
        return {**response, "type": "object"}
    return {"type": "object", "properties": {"result": response}}


def import_openapi(doc: dict[str, Any], *, source: str, sha256: str | None, name: str) -> ApiModel:
    """Entry point for both formats; `doc` is the parsed document."""
    swagger = str(doc.get("swagger", "")).startswith("2")
    return OpenApiImporter(doc, source=source, sha256=sha256, name=name, swagger=swagger).run()
