"""Values a server without a State has shown in its own outputs, for grounding plans over third-party servers.

A catalog environment has a State to draw values from; a third-party server (server-filesystem, a knowledge-base
server) has none, and a value invented for it is worse than useless: a file path "garden" on a filesystem server
either fails or, worse, succeeds with an error text that becomes a "verified" sample. So over such a server a
parameter that names something on the server (a path; an id) is filled only from what the server itself listed:
its allowed directories, the files listed under them, ids in its JSON answers. A creation names a new thing inside
something listed (a new file in a listed directory). A required parameter with no such source fails the step
(`CallFailed`): the sample is not made rather than made up.

Values come from the outputs of read-only calls only: the plan's own earlier steps, and when a step needs a value
nothing has shown yet, a few scouting calls (parameterless listings such as `list_allowed_directories`, then
listings of the directories found, a recursive tree first). Scouting calls are not plan steps.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from common import naming
from synthesizer.discovery.calls import CallFailed, call_tool
from synthesizer.discovery.control import is_control_tool
from synthesizer.discovery.sources import ConnectedServer
from synthesizer.discovery.tools import ToolInfo
from synthesizer.plan.schema import is_id_like, main_type, properties, required, resolve

Kind = Literal["dir", "file"]

PATH_WORDS = frozenset({"path", "paths", "pathname", "filepath", "filepaths", "filename", "filenames", "file", "files",
                        "dir", "dirs", "directory", "directories", "folder", "folders"})
DIR_WORDS = frozenset({"dir", "dirs", "directory", "directories", "folder", "folders", "tree", "root", "roots"})
FILE_WORDS = frozenset({"file", "files", "filename", "filenames", "filepath", "filepaths"})
MOVE_WORDS = frozenset({"source", "destination", "src", "dst", "dest", "target", "from", "to", "old", "new"})
NEW_WORDS = frozenset({"destination", "dst", "dest", "target", "to", "new"})
LISTING = frozenset({"list", "tree", "search", "find", "browse", "allowed", "roots", "root", "ls", "glob", "walk",
                     "scan", "directory", "directories", "dir", "folders"})
DIR_TOOL_VERBS = frozenset({"list", "search", "find", "tree", "browse", "walk", "glob", "scan", "ls"})
CREATING = frozenset({"create", "make", "new", "mkdir", "write", "save", "touch", "upload", "add", "put", "generate",
                      "copy", "export"})
RELOCATING = frozenset({"move", "rename", "delete", "remove", "trash", "rm", "unlink"})
UPDATING = frozenset({"update", "edit", "modify", "change", "set", "rename", "patch"})
PATTERN_WORDS = frozenset({"pattern", "patterns", "glob", "globs", "exclude", "regex", "filter"})
NOT_PATH = frozenset({"url", "uri", "urls", "uris", "link", "id", "ids", "uuid"})
PATH_DESC = re.compile(r"\b(file|directory|folder)?\s?paths?\b|\bdirector(y|ies)\b|\bfolders?\b", re.IGNORECASE)
PATHY_TOOL = re.compile(r"\b(files?|director(y|ies)|folders?|paths?)\b", re.IGNORECASE)
ERROR_LINE = re.compile(r"error|enoent|no such|denied|not found|not allowed|invalid|failed|outside", re.IGNORECASE)
TAGGED = re.compile(r"^\s*\[(DIR|DIRECTORY|FOLDER|FILE|D|F)\]\s+(.+?)\s*(?:\s{2,}.*)?$", re.IGNORECASE)
ABSOLUTE = re.compile(r"^(/[^\0\n]*|[A-Za-z]:\\[^\0\n]*)$")
NEW_DIRS = ["archive", "drafts", "reports-2026", "receipts", "shared-notes", "backups", "invoices-march"]
NEW_FILES = ["meeting-notes.md", "todo-list.txt", "budget-2026.csv", "summary.md", "reading-list.md", "ideas.txt",
             "packing-list.txt", "contacts.csv"]
NEW_STEMS = ["renamed", "final", "copy-2026-03", "archived", "reviewed"]
MAX_PATHS = 2000
SCOUT_CALLS = 6


def _words(text: str) -> set[str]:
    return {w for w in naming.snake(text).split("_") if w}


def _join(base: str, name: str) -> str:
    sep = "\\" if re.match(r"^[A-Za-z]:\\", base) else "/"
    return base.rstrip(sep) + sep + name.strip(sep) if base.rstrip(sep) else sep + name.strip(sep)


def _parent(path: str) -> str:
    sep = "\\" if re.match(r"^[A-Za-z]:\\", path) else "/"
    head = path.rstrip(sep).rpartition(sep)[0]
    return head or sep


def _base(path: str) -> str:
    return re.split(r"[\\/]", path.rstrip("\\/"))[-1]


def _guess(path: str) -> Kind | None:
    """A listed path of unknown kind: `notes.txt` is a file; `notes` could be either."""
    return "file" if re.search(r"\.[A-Za-z0-9]{1,8}$", _base(path)) else None


def _under(path: str, root: str) -> bool:
    sep = "\\" if re.match(r"^[A-Za-z]:\\", root) else "/"
    return path == root or path.startswith(root.rstrip(sep) + sep)


@dataclass(frozen=True)
class PathRole:
    """What a path parameter wants: a directory or a file (None: either), an existing one or a new one, one or a
    list."""

    kind: Kind | None
    new: bool
    many: bool


def _string_like(s: dict[str, Any]) -> tuple[bool, bool]:
    """(is a string or a list of strings, is a list)."""
    typ = main_type(s)
    if typ == "array":
        item = s.get("items")
        return main_type(item if isinstance(item, dict) else {}) in ("string", None), True
    return typ in ("string", None), False


def path_role(param: str, schema: dict[str, Any], tool: ToolInfo) -> PathRole | None:
    """The role of a parameter that names a file-system path on the server (None: not a path)."""
    s = resolve(schema, tool.input_schema)
    words = _words(param)
    ok, many = _string_like(s)
    fmt = str(s.get("format", "")).lower()
    if not ok or fmt in ("uri", "url", "binary", "byte", "uuid") or words & NOT_PATH or is_id_like(param, s):
        return None
    if words & PATTERN_WORDS:
        return None
    tool_words = _words(tool.name)
    verb = naming.snake(tool.name).split("_")[0]
    pathy_tool = bool(tool_words & PATH_WORDS) or bool(PATHY_TOOL.search(tool.description or ""))
    if not (words & PATH_WORDS or (words & MOVE_WORDS and pathy_tool)
            or (PATH_DESC.search(str(s.get("description", ""))) and pathy_tool)):
        return None
    kind: Kind | None
    if words & DIR_WORDS:
        kind = "dir"
    elif words & FILE_WORDS:
        kind = "file"
    elif tool_words & DIR_WORDS or verb in DIR_TOOL_VERBS:
        kind = "dir"
    elif tool_words & FILE_WORDS:
        kind = "file"
    else:
        kind = None
    new = bool(words & NEW_WORDS) or (verb in CREATING and not words & {"source", "src", "from", "old"})
    return PathRole(kind=kind, new=new, many=many)


def _pattern_param(param: str, schema: dict[str, Any], tool: ToolInfo) -> bool:
    s = resolve(schema, tool.input_schema)
    return bool(_words(param) & {"pattern", "glob"}) and main_type(s) in ("string", None)


@dataclass
class Observed:
    """What one server without a State has shown so far: paths (with their kind when the listing said it), the
    directories its parameterless listings named (its roots), and scalar values of its JSON answers by key."""

    paths: dict[str, Kind | None] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=dict)
    scouted: bool = False

    # --- harvesting ---------------------------------------------------------------------------------------------

    def harvest(self, tool: ToolInfo, arguments: dict[str, Any], output: Any, text: str) -> None:
        """Take what a successful read-only call's answer shows: listed paths (a listing's `[DIR] x` lines, a JSON
        tree of name/type/children, lines that are absolute paths) and scalar values of a JSON answer."""
        if not tool.read_only:
            return
        doc = _json_of(output, text)
        if doc is not None:
            self._values(doc, "", 0)
        words = _words(tool.name)
        if not words & LISTING:
            return  # file contents, info pages: paths quoted there need not exist
        base = next((v for p, v in arguments.items() if isinstance(v, str) and path_role(
            p, properties(tool.input_schema).get(p, {}), tool)), None)
        parameterless = not required(tool.input_schema)
        if isinstance(doc, (list, dict)) and base:
            self._tree(doc, base, 0)
        for line in (text or "").splitlines():
            if ERROR_LINE.search(line):
                continue
            m = TAGGED.match(line)
            if m and base:
                tag = m.group(1).upper()
                self._add(_join(base, m.group(2)), "file" if tag in ("FILE", "F") else "dir")
                continue
            raw = line.strip().rstrip(":")
            if ABSOLUTE.match(raw):
                if parameterless and words & (DIR_WORDS | {"allowed"}):
                    if raw not in self.roots:
                        self.roots.append(raw)
                    self._add(raw, "dir", root=True)
                else:
                    self._add(raw, _guess(raw))

    def _add(self, path: str, kind: Kind | None, root: bool = False) -> None:
        if len(self.paths) >= MAX_PATHS:
            return
        if not root and self.roots and not any(_under(path, r) for r in self.roots):
            return  # not inside what the server said it may touch
        if kind is not None or path not in self.paths:
            self.paths[path] = kind

    def _tree(self, node: Any, base: str, depth: int) -> None:
        if depth > 12:
            return
        if isinstance(node, list):
            for x in node:
                self._tree(x, base, depth + 1)
            return
        if not isinstance(node, dict):
            return
        name, typ = node.get("name"), str(node.get("type", "")).lower()
        children = node.get("children")
        if isinstance(node.get("path"), str) and ABSOLUTE.match(node["path"]):
            here = node["path"]
        elif isinstance(name, str) and name and "/" not in name.strip("/"):
            here = _join(base, name)
        else:
            return
        kind: Kind | None = "dir" if typ in ("directory", "dir", "folder") or isinstance(children, list) else (
            "file" if typ == "file" else _guess(here))
        self._add(here, kind)
        if isinstance(children, list):
            for c in children:
                self._tree(c, here, depth + 1)

    def _values(self, x: Any, key: str, depth: int) -> None:
        if depth > 8:
            return
        if isinstance(x, dict):
            for k, v in x.items():
                self._values(v, str(k).lower(), depth + 1)
        elif isinstance(x, list):
            for v in x:
                self._values(v, key, depth + 1)
        elif isinstance(x, (str, int)) and not isinstance(x, bool) and key:
            bucket = self.values.setdefault(key, [])
            if x not in bucket and len(bucket) < 50:
                bucket.append(x)

    def wrote(self, tool: ToolInfo, arguments: dict[str, Any]) -> None:
        """After a plan's write: a moved or deleted path is no longer there for later steps."""
        if not _words(tool.name) & RELOCATING:
            return
        for p, v in arguments.items():
            role = path_role(p, properties(tool.input_schema).get(p, {}), tool)
            if role is not None and not role.new:
                for path in v if isinstance(v, list) else [v]:
                    if isinstance(path, str):
                        self.paths = {k: kd for k, kd in self.paths.items() if not _under(k, path)}

    # --- scouting -----------------------------------------------------------------------------------------------

    def lacks(self, tool: ToolInfo, fed: dict[str, Any]) -> bool:
        """Whether a required path of this tool has no candidate yet (scouting may find one)."""
        props = properties(tool.input_schema)
        for p in required(tool.input_schema):
            role = path_role(p, props.get(p, {}), tool)
            if p not in fed and role is not None and not self._candidates(role):
                return True
        return False

    async def scout(self, server: ConnectedServer, tools: list[ToolInfo], episode: str, scenario: str | None,
                    budget: int = SCOUT_CALLS) -> None:
        """A few read-only listing calls that are not plan steps: parameterless listings first (the server's roots),
        then listings of the directories found (a recursive tree before a flat listing)."""
        self.scouted = True
        listers = [t for t in tools if t.read_only and _words(t.name) & LISTING
                   and not is_control_tool(t.name, t.description, t.input_schema)]
        for t in sorted((t for t in listers if not required(t.input_schema)), key=lambda t: t.name):
            if budget <= 0:
                return
            budget -= 1
            await self._call(server, t, {}, episode, scenario)
        walkers = []
        for t in listers:
            req = required(t.input_schema)
            roles = [path_role(p, properties(t.input_schema).get(p, {}), t) for p in req]
            if req and len(req) == 1 and roles[0] is not None and roles[0].kind == "dir" and not roles[0].many:
                walkers.append((t, req[0]))
        walkers.sort(key=lambda w: ("tree" not in _words(w[0].name), w[0].name))
        for t, param in walkers:
            recursive = "tree" in _words(t.name)
            queue = list(self.roots) or [p for p, k in self.paths.items() if k == "dir"][:2]
            visited: set[str] = set()
            while queue and budget > 0:
                d = queue.pop(0)
                if d in visited:
                    continue
                visited.add(d)
                budget -= 1
                before = set(self.paths)
                await self._call(server, t, {param: d}, episode, scenario)
                if not recursive:
                    queue += [p for p in self.paths if p not in before and self.paths[p] == "dir"]
            if visited:
                return  # one walker is enough: a tree shows everything below each root, a listing its levels

    async def _call(self, server: ConnectedServer, tool: ToolInfo, args: dict[str, Any], episode: str,
                    scenario: str | None) -> None:
        r = await call_tool(server, tool.name, args, episode, scenario)
        if not r.is_error:
            self.harvest(tool, args, r.output, r.text)

    # --- filling ------------------------------------------------------------------------------------------------

    def _candidates(self, role: PathRole) -> list[str]:
        if role.new:
            return [p for p, k in self.paths.items() if k == "dir"]
        if role.kind is None:
            return list(self.paths)
        return [p for p, k in self.paths.items() if (k or _guess(p)) == role.kind]

    def fill(self, tool: ToolInfo, fed: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        """`fed` plus a value for each path, id and search-pattern parameter that the server's outputs can source
        (existing paths first, then new ones inside listed directories); CallFailed when a required path cannot."""
        out = dict(fed)
        props = properties(tool.input_schema)
        req = set(required(tool.input_schema))
        roles = {p: r for p, s in props.items() if p not in fed and (r := path_role(p, s, tool)) is not None}
        for p in sorted(roles, key=lambda p: roles[p].new):  # a move's source before its destination
            if p not in req:
                continue
            role = roles[p]
            options = self._candidates(role)
            if not options:
                raise CallFailed(f"{tool.name}: the server has shown no {role.kind or 'path'} for {p!r}")
            if role.new:
                out[p] = self._new(rng.choice(options), role, out, roles)
            elif role.many:
                k = min(len(options), rng.choice([1, 1, 2]))
                out[p] = rng.sample(options, k)
            else:
                out[p] = rng.choice(options)
        for p, s in props.items():
            if p in out:
                continue
            if p in req and is_id_like(p, resolve(s, tool.input_schema)):
                pool = self.values.get(p.lower()) or []
                if pool:
                    out[p] = rng.choice(pool)
            elif p in req and _pattern_param(p, s, tool):
                pattern = self._pattern(tool, out, roles, s, rng)
                if pattern is not None:
                    out[p] = pattern
        return out

    def _new(self, parent: str, role: PathRole, args: dict[str, Any], roles: dict[str, PathRole]) -> str:
        """A new path inside a listed directory: the moved thing's extension kept, never one that exists."""
        source = next((args[p] for p, r in roles.items() if not r.new and isinstance(args.get(p), str)), None)
        if isinstance(source, str):
            ext = re.search(r"\.[A-Za-z0-9]{1,8}$", _base(source))
            names = [s + (ext.group(0) if ext else "") for s in NEW_STEMS]
            parent = _parent(source) if self.paths.get(_parent(source)) == "dir" else parent
        else:
            names = NEW_DIRS if role.kind == "dir" else NEW_FILES
        for name in names:
            if _join(parent, name) not in self.paths:
                return _join(parent, name)
        n = 2
        while _join(parent, f"{n}-{names[0]}") in self.paths:
            n += 1
        return _join(parent, f"{n}-{names[0]}")

    def _pattern(self, tool: ToolInfo, args: dict[str, Any], roles: dict[str, PathRole], schema: dict[str, Any],
                 rng: random.Random) -> str | None:
        """A search pattern that finds a listed file under the searched directory (`**/*.txt`, or its name)."""
        where = next((args[p] for p, r in roles.items() if isinstance(args.get(p), str)), None)
        files = [p for p, k in self.paths.items() if (k or _guess(p)) == "file" and (where is None or _under(p, where))
                 and p != where]
        if not files:
            return None
        name = _base(rng.choice(files))
        ext = re.search(r"\.[A-Za-z0-9]{1,8}$", name)
        globbing = re.search(r"\bglob", f"{tool.description} {schema.get('description', '')}", re.IGNORECASE)
        return f"**/*{ext.group(0)}" if globbing and ext else name

    def settle(self, tool: ToolInfo, arguments: dict[str, Any], sourced: dict[str, Any]) -> dict[str, Any]:
        """Arguments without generated optional values: over a server without a State an optional path nobody
        listed, a pattern, a count of lines (`head` 8.13) is invented and is left out. A choice from a fixed set
        (enum, yes/no) stays, and so does everything an update-like tool was given (else it changes nothing)."""
        if naming.snake(tool.name).split("_")[0] in UPDATING:
            return {p: v for p, v in arguments.items() if p in sourced or path_role(
                p, properties(tool.input_schema).get(p, {}), tool) is None}
        props = properties(tool.input_schema)
        req = set(required(tool.input_schema))
        out = {}
        for p, v in arguments.items():
            s = resolve(props.get(p, {}), tool.input_schema)
            fixed = bool(s.get("enum")) or "const" in s or main_type(s) == "boolean"
            if p in sourced or (p in req and path_role(p, s, tool) is None) or (p not in req and fixed
                                                                                and path_role(p, s, tool) is None):
                out[p] = v
        return out


def _json_of(output: Any, text: str) -> Any:
    """The answer as JSON: structured content, or the text when it parses (a `{"content": "<text>"}` wrapper of
    plain text is not data)."""
    if isinstance(output, (dict, list)) and not (isinstance(output, dict) and set(output) == {"content"}
                                                 and isinstance(output["content"], str)):
        return output
    try:
        doc = json.loads(text) if text and text.lstrip()[:1] in "[{" else None
    except ValueError:
        return None
    return doc if isinstance(doc, (dict, list)) else None
