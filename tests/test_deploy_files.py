"""The deployment files (Dockerfile, docker-compose.yml, deploy/nginx/conduit.conf) parse, and
agree with each other and with the code: ports, environment variables, the health path, the
body limit, the request-id rule, the start command.

The helpers that read these files are used by tests/test_topology.py too, which runs the
same nginx configuration in front of real app processes.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from gunicorn.config import Config as GunicornConfig  # type: ignore[import-untyped]  # no stubs

from app import create_app
from settings import Settings
from shell import observability
from tests.helpers import app_settings
from tests.live import serving

ROOT = Path(__file__).parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx" / "conduit.conf"
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
# what the compose file's ${VARIABLES} stand for in these tests
COMPOSE_VARIABLES = {"SECRET_KEY": "k" * 24 + "-random-enough-for-tests", "POSTGRES_PASSWORD": "pw"}


# --- Dockerfile ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str  # the rest of the (joined) line


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """ENV, in the `NAME=value` form this Dockerfile uses."""
        found: dict[str, str] = {}
        for args in self.all("ENV"):
            for item in shlex.split(args):
                name, sep, value = item.partition("=")
                assert sep, f"ENV {args!r}: write NAME=value"
                found[name] = value
        return found


def dockerfile_instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile: comments dropped, continued lines joined."""
    found: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also inside a continued instruction, as Docker allows
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        found.append(Instruction(keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return found


def dockerfile_stages(text: str) -> list[Stage]:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in dockerfile_instructions(text):
        if instruction.keyword == "ARG" and not stages:
            arg, _, default = instruction.args.partition("=")
            args[arg] = default
        elif instruction.keyword == "FROM":
            words = instruction.args.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image, name))
        else:
            assert stages, f"{instruction.keyword} before the first FROM"
            stages[-1].instructions.append(instruction)
    return stages


def exec_form(args: str) -> list[str]:
    """A CMD or HEALTHCHECK CMD in exec form (a JSON array)."""
    parsed = json.loads(args)
    assert isinstance(parsed, list), args
    assert all(isinstance(a, str) for a in parsed), args
    return parsed


def healthcheck_command(stage: Stage) -> list[str]:
    (healthcheck,) = stage.all("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert all(o.startswith("--") for o in options.split()), healthcheck
    return exec_form(command)


def final_stage() -> Stage:
    return dockerfile_stages(DOCKERFILE.read_text())[-1]


def app_port() -> int:
    """The port the image's app listens on: what every other file must name."""
    return int(final_stage().env()["PORT"])


# --- docker-compose.yml -------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())  # merge keys (<<) and anchors included
    assert isinstance(data, dict)
    return data


def app_services(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run this repository's image."""
    return {name: s for name, s in spec["services"].items() if s.get("build") == "."}


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, from `variables`."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match["name"], match["op"], match["rest"]
        if name in variables and (variables[name] or op is None):
            return variables[name]
        if op == ":-":
            return rest or ""
        raise AssertionError(f"${{{name}}} unset: {rest or 'no default'}")

    return re.sub(r"\$\{(?P<name>\w+)(?:(?P<op>:[-?])(?P<rest>[^}]*))?\}", one, value)


def app_environment(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service["environment"]
    assert isinstance(environment, dict), "write the environment as a mapping"
    return {k: interpolate(str(v), COMPOSE_VARIABLES) for k, v in environment.items()}


# --- nginx --------------------------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def find(self, name: str) -> list[Directive]:
        """Every directive of that name, at any depth inside this one."""
        found = []
        for d in self.block or []:
            if d.name == name:
                found.append(d)
            found.extend(d.find(name))
        return found


def nginx_tokens(text: str) -> Iterator[str]:
    token = re.compile(
        r"""\s+|#[^\n]*|'((?:\\.|[^'\\])*)'|"((?:\\.|[^"\\])*)"|([{};])|([^\s{};'"]+)"""
    )
    at = 0
    while at < len(text):
        m = token.match(text, at)
        assert m, f"nginx config: cannot read {text[at : at + 40]!r}"
        at = m.end()
        single, double, punct, word = m.groups()
        if single is not None or double is not None:
            yield "\0" + (single if single is not None else double)  # quoted: never a brace
        elif punct or word:
            yield punct or word


def nginx_directives(text: str) -> Directive:
    """The configuration as a tree of directives (the file itself is the root's block)."""
    stack = [Directive("", [], [])]
    words: list[str] = []
    for tok in nginx_tokens(text):
        if tok in (";", "{"):
            name, *args = (w.removeprefix("\0") for w in words)
            child = Directive(name, args, [] if tok == "{" else None)
            assert stack[-1].block is not None
            stack[-1].block.append(child)
            if tok == "{":
                stack.append(child)
            words = []
        elif tok == "}":
            assert not words, f"nginx config: {words} before a closing brace"
            stack.pop()
        else:
            words.append(tok)
    assert len(stack) == 1, "nginx config: unbalanced braces"
    assert not words, f"nginx config: {words} not ended by a semicolon"
    return stack[0]


def upstream_servers(conf: Directive) -> list[tuple[str, int]]:
    (upstream,) = conf.find("upstream")
    servers = []
    for d in upstream.find("server"):
        host, _, port = d.args[0].rpartition(":")
        servers.append((host, int(port)))
    return servers


def render_nginx(text: str, upstreams: list[str], listen: str) -> str:
    """The same configuration with the upstream servers' addresses and the listen address
    replaced, for nginx on this machine (compose's hostnames do not resolve here)."""
    servers = iter(upstreams)

    def server(m: re.Match[str]) -> str:
        return f"{m[1]}server {next(servers)}{m[2]}"

    text, count = re.subn(r"(?m)^(\s*)server [\w.-]+:\d+(\s|;)", server, text)
    assert count == len(upstreams), "one replacement address per upstream server"
    text, count = re.subn(r"(?m)^(\s*)listen \S+;", rf"\1listen {listen};", text)
    assert count == 1, "one listen directive"
    return text


def nginx_main_config(directory: Path, included: Path) -> Path:
    """A minimal nginx.conf around `included`, with every path nginx writes to in `directory`."""
    temp = {
        name: directory / name
        for name in ("client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp")
    }
    for path in temp.values():
        path.mkdir(exist_ok=True)
    paths = "\n".join(f"    {name}_path {path};" for name, path in temp.items())
    # as root, nginx's workers would drop to `nobody`, who cannot use the test's directory
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = directory / "nginx.conf"
    main.write_text(
        f"{user}worker_processes 1;\n"
        f"error_log {directory / 'error.log'};\n"
        f"pid {directory / 'nginx.pid'};\n"
        "events { worker_connections 256; }\n"
        f"http {{\n{paths}\n    include {included};\n}}\n"
    )
    return main


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.skip("nginx is not installed (make /usr/sbin/nginx: apt-get install nginx)")
    return found


def size_in_bytes(value: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert m, f"not an nginx size: {value!r}"
    return int(m[1]) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m[2].lower()]


def server_block() -> Directive:
    root = nginx_directives(NGINX_CONF.read_text())
    (server,) = [d for d in root.block or [] if d.name == "server"]  # not an upstream's server
    return server


def directive_args(block: Directive, name: str) -> list[list[str]]:
    """The arguments of each `name` directly in `block` (not in its locations)."""
    return [d.args for d in block.block or [] if d.name == name]


# --- the tests ----------------------------------------------------------------------------------


def test_the_image_is_built_in_two_stages_and_runs_unprivileged() -> None:
    stages = dockerfile_stages(DOCKERFILE.read_text())
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert builder.name is not None
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", final.base), final.base
    # nothing but the built virtualenv comes from the builder: no compiler, no wheel cache
    copied = [a for a in final.all("COPY") if a.startswith("--from=")]
    assert copied == [f"--from={builder.name} /opt/venv /opt/venv"]
    for run in final.all("RUN"):
        assert not re.search(r"\b(apt-get|apk|gcc|build-essential|pip)\b", run), run
    for run in builder.all("RUN"):
        if re.search(r"\bpip install\b", run):
            assert "--no-cache-dir" in run or builder.env().get("PIP_NO_CACHE_DIR") == "1"
    (user,) = final.all("USER")
    assert user.split(":")[0] not in ("root", "0", "")
    # the user is created in the image, before it is switched to
    keywords = [i.keyword for i in final.instructions]
    assert keywords.index("USER") > keywords.index("RUN")
    assert any("useradd" in run and user.split(":")[0] in run for run in final.all("RUN"))


def test_the_image_starts_like_make_serve() -> None:
    """`make serve`'s two steps, migrate then gunicorn with its config, in the image's CMD."""
    recipe = re.search(r"(?m)^serve:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text())
    assert recipe, "the Makefile has no serve target"
    steps = []
    for line in recipe[1].splitlines():
        words = shlex.split(line.strip())
        words = [w for w in words if not re.fullmatch(r"\w+=.*", w)]  # CONDUIT_ENV=...
        words[0] = words[0].rsplit("/", 1)[-1].replace("$(PY)", "python")  # $(VENV)/bin/gunicorn
        steps.append(words)
    cmd = exec_form(final_stage().all("CMD")[0])
    assert cmd[:2] == ["/bin/sh", "-c"]
    started = [shlex.split(step.strip()) for step in cmd[2].split("&&")]
    started = [words[1:] if words[0] == "exec" else words for words in started]
    assert started == steps
    # the environment make defaults to, which the image sets
    assert "CONDUIT_ENV=$${CONDUIT_ENV:-production}" in recipe[1]
    assert final_stage().env()["CONDUIT_ENV"] == "production"


def test_every_file_names_the_port_the_app_listens_on(monkeypatch: pytest.MonkeyPatch) -> None:
    final = final_stage()
    port = app_port()
    assert final.all("EXPOSE") == [str(port)]
    # gunicorn binds where the image's HOST and PORT say: every interface, so nginx reaches it
    for name in ("HOST", "PORT", "WORKERS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in final.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent")  # no temporary directory
    gunicorn = runpy.run_path(str(GUNICORN_CONF))
    assert gunicorn["bind"] == f"0.0.0.0:{port}"

    spec = compose()
    apps = app_services(spec)
    assert len(apps) == 2
    for service in apps.values():
        assert int(app_environment(service).get("PORT", port)) == port
        assert [str(p) for p in service["expose"]] == [str(port)]
    # nginx proxies to exactly those services, on that port
    conf = nginx_directives(NGINX_CONF.read_text())
    assert sorted(upstream_servers(conf)) == sorted((name, port) for name in apps)
    (listen,) = directive_args(server_block(), "listen")
    (published,) = spec["services"]["nginx"]["ports"]
    assert str(published).rpartition(":")[2] == listen[0]


class Recorder(dict[str, str]):
    """An environment that remembers every name asked of it."""

    asked: set[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return super().__contains__(key)


def variables_the_code_reads() -> set[str]:
    """Asked of settings.py and gunicorn.conf.py themselves, not listed by hand."""
    settings_env = Recorder(SECRET_KEY="x" * 40)
    Settings.from_env(settings_env)
    gunicorn_env = Recorder(os.environ, PROMETHEUS_MULTIPROC_DIR="/nonexistent")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "environ", gunicorn_env)
        runpy.run_path(str(GUNICORN_CONF))
    return settings_env.asked | gunicorn_env.asked


def test_the_apps_get_only_variables_the_code_reads() -> None:
    read = variables_the_code_reads()
    assert {"DATABASE_URL", "SECRET_KEY", "REDIS_URL", "TRUSTED_PROXIES", "PORT"} <= read
    for name, service in app_services(compose()).items():
        environment = app_environment(service)
        unread = set(environment) - read
        assert not unread, f"{name} sets variables nothing reads: {sorted(unread)}"
        assert (
            not set(final_stage().env())
            - read
            - {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
        )


def test_the_apps_environment_is_a_valid_production_configuration() -> None:
    spec = compose()
    services = spec["services"]
    nginx_address = ipaddress.ip_address(services["nginx"]["networks"]["default"]["ipv4_address"])
    (subnet,) = spec["networks"]["default"]["ipam"]["config"]
    fixed = [
        ipaddress.ip_address(s["networks"]["default"]["ipv4_address"])
        for s in services.values()
        if "networks" in s
    ]
    assert nginx_address in fixed
    # nginx resolves the apps once: a restarted app must come back at the same address
    assert all("networks" in s for s in app_services(spec).values())
    assert len(set(fixed)) == len(fixed)
    assert all(a in ipaddress.ip_network(subnet["subnet"]) for a in fixed)
    postgres = {
        k: interpolate(str(v), COMPOSE_VARIABLES)
        for k, v in services["postgres"]["environment"].items()
    }
    for name, service in app_services(spec).items():
        settings = Settings.from_env(app_environment(service))  # raises on anything refused
        assert settings.environment == "production", name
        database = re.fullmatch(
            r"postgresql\+psycopg://(\w+):([^@]+)@([\w-]+):5432/(\w+)", settings.database_url
        )
        assert database, settings.database_url
        assert database.groups() == (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
            "postgres",
            postgres["POSTGRES_DB"],
        )
        redis = re.fullmatch(r"redis://([\w-]+):6379/\d+", settings.redis_url)
        assert redis, settings.redis_url
        assert redis[1] in services
        # nginx's forwarded client addresses are believed, and nobody else's
        trusted = [ipaddress.ip_network(p) for p in settings.trusted_proxies]
        assert any(nginx_address in network for network in trusted)
        assert all(network.num_addresses == 1 for network in trusted)
        # both apps trust, share and sign alike: a token from one is good at the other
        assert app_environment(service) == app_environment(next(iter(app_services(spec).values())))


def test_services_start_in_order_once_their_dependencies_are_healthy() -> None:
    services = compose()["services"]
    apps = app_services(compose())
    for name in ("postgres", "redis", "nginx"):
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    assert healthcheck_command(final_stage())  # the apps' health: the image's HEALTHCHECK
    for name, service in apps.items():
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }, name
    assert services["nginx"]["depends_on"] == {
        name: {"condition": "service_healthy"} for name in apps
    }
    # the mounted configuration is the one the tests check and run
    (volume,) = services["nginx"]["volumes"]
    source, target, *_ = volume.split(":")
    assert (ROOT / source).resolve() == NGINX_CONF.resolve()
    assert target == "/etc/nginx/conf.d/default.conf"
    # proxy_next_upstream leaves non-idempotent requests alone only from nginx 1.9.13 on
    tag = services["nginx"]["image"].partition(":")[2]
    version = tuple(int(n) for n in re.findall(r"\d+", tag)[:3])
    assert version >= (1, 9, 13)


def test_the_healthcheck_passes_against_a_running_app_and_fails_without_one(tmp_path: Path) -> None:
    """The image's HEALTHCHECK command itself, run against a real server of the app."""
    command = healthcheck_command(final_stage())
    assert command[0] == "python"
    command[0] = sys.executable
    env = {
        "CONDUIT_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
        "REDIS_URL": "",
    }
    with serving([sys.executable, "-m", "cli", "run"], env, tmp_path, probe="/healthz") as base:
        port = base.rpartition(":")[2]
        check = subprocess.run(
            command, env={**os.environ, "PORT": port}, capture_output=True, timeout=10
        )
        assert check.returncode == 0, check.stderr
    dead = subprocess.run(
        command, env={**os.environ, "PORT": port}, capture_output=True, timeout=10
    )
    assert dead.returncode != 0


def test_the_build_context_holds_what_the_image_copies_and_no_secrets() -> None:
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            patterns.append((negated, _dockerignore_regex(line.lstrip("!"))))

    def ignored(path: str) -> bool:
        """Docker's rule: the last pattern that matches the path or a parent of it decides."""
        parts = path.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for negated, regex in patterns:
            if any(regex.fullmatch(c) for c in candidates):
                result = not negated
        return result

    copied: list[str] = []
    for stage in dockerfile_stages(DOCKERFILE.read_text()):
        for args in stage.all("COPY"):
            if not args.startswith("--from="):
                copied.extend(a.rstrip("/") for a in args.split()[:-1])
    assert copied
    for source in copied:
        path = ROOT / source
        assert path.exists(), source
        files = (
            [path]
            if path.is_file()
            else [p for p in path.rglob("*.py") if "__pycache__" not in p.parts]
        )
        for file in files:
            assert not ignored(file.relative_to(ROOT).as_posix()), file
    assert not ignored("openapi/api.yaml")
    for kept_out in (
        ".git/HEAD",
        ".venv/bin/python",
        ".secret_key",
        "conduit.db",
        "tests/conftest.py",
        "node_modules/x",
        "shell/__pycache__/state.cpython-311.pyc",
        "db/.secret_key",
    ):
        assert ignored(kept_out), kept_out


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip("/")
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def test_nginx_waits_for_a_slow_body_no_longer_than_the_app_would() -> None:
    (timeout,) = directive_args(server_block(), "client_body_timeout")
    assert timeout[0].endswith("s")
    assert int(timeout[0].removesuffix("s")) <= Settings().body_timeout_seconds


def test_nginx_takes_no_body_the_app_would_refuse_and_refuses_it_alike(tmp_path: Path) -> None:
    (limit,) = directive_args(server_block(), "client_max_body_size")
    assert size_in_bytes(limit[0]) == Settings().max_body_bytes
    # nginx's own 413 is the app's problem, word for word
    app = create_app(app_settings(f"sqlite:///{tmp_path / 'b.db'}"))
    with app.test_client() as client:
        too_big = b"{" + b" " * Settings().max_body_bytes + b"}"
        answer = client.post(
            "/api/users", content=too_big, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 413
    (location,) = [d for d in server_block().find("location") if d.args == ["@too_large"]]
    (ret,) = location.find("return")
    assert ret.args[0] == "413"
    assert orjson.loads(ret.args[1]) == answer.json()
    (default_type,) = location.find("default_type")
    assert answer.headers["content-type"].startswith(default_type.args[0])


def test_nginx_keeps_a_request_id_exactly_when_the_app_would() -> None:
    conf = nginx_directives(NGINX_CONF.read_text())
    (request_id_map,) = [
        m for m in conf.find("map") if m.args == ["$http_x_request_id", "$conduit_request_id"]
    ]
    entries = {d.name: d.args for d in request_id_map.block or []}
    assert entries["default"] == ["$request_id"]
    ((pattern, value),) = [(k, v) for k, v in entries.items() if k.startswith("~")]
    assert value == ["$http_x_request_id"]
    nginx_rule = re.compile(pattern[1:])
    samples = [
        "trace-me",
        "a" * 128,
        "a" * 129,
        "",
        "with space",
        "tab\there",
        "caf\u00e9",
        "<>!~",
        "x\x7f",
    ]
    for sample in samples:
        kept_by_nginx = nginx_rule.search(sample) is not None
        kept_by_app = observability._SANE_REQUEST_ID.fullmatch(sample.encode()) is not None
        assert kept_by_nginx == kept_by_app, sample
    headers = {tuple(a) for a in directive_args(server_block(), "proxy_set_header")}
    assert ("X-Request-ID", "$conduit_request_id") in headers


def test_nginx_proxies_like_the_app_expects(monkeypatch: pytest.MonkeyPatch) -> None:
    server = server_block()
    headers = {a[0].lower(): a[1] for a in directive_args(server, "proxy_set_header")}
    assert headers["connection"] == ""
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    assert headers["x-forwarded-proto"] == "$scheme"
    assert headers["host"] in ("$host", "$http_host", "$conduit_host")
    assert directive_args(server, "proxy_http_version") == [["1.1"]]
    (retry,) = directive_args(server, "proxy_next_upstream")
    assert {"error", "timeout", "http_502"} <= set(retry)
    assert "non_idempotent" not in retry  # a POST is never sent twice by the proxy
    # a 503 from /readyz (Redis down, the API still up) must not take the apps out of the pool
    assert "http_503" not in retry
    assert directive_args(server, "gzip") == [["on"]]
    (types,) = directive_args(server, "gzip_types")
    assert "application/json" in types
    # every location proxies to the upstream, which keeps connections open
    conf = nginx_directives(NGINX_CONF.read_text())
    (upstream,) = conf.find("upstream")
    assert upstream.find("keepalive")
    for location in server.find("location"):
        if not location.args[0].startswith("@"):
            assert location.find("proxy_pass")[0].args == [f"http://{upstream.args[0]}"]
    # nginx gives up an idle connection before the app does (see the comment in the file)
    (timeout,) = upstream.find("keepalive_timeout")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent")
    app_keepalive = runpy.run_path(str(GUNICORN_CONF)).get("keepalive", GunicornConfig().keepalive)
    assert int(timeout.args[0].removesuffix("s")) < int(app_keepalive)


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    nginx = nginx_binary()
    rendered = tmp_path / "conduit.conf"
    main = nginx_main_config(tmp_path, rendered)
    log = tmp_path / "error.log"

    def accepts(text: str) -> subprocess.CompletedProcess[str]:
        rendered.write_text(render_nginx(text, ["127.0.0.1:1", "127.0.0.1:2"], "127.0.0.1:3"))
        command = [nginx, "-t", "-q", "-e", str(log), "-p", str(tmp_path), "-c", str(main)]
        return subprocess.run(command, capture_output=True, text=True, timeout=30)

    text = NGINX_CONF.read_text()
    check = accepts(text)
    assert check.returncode == 0, check.stderr
    # and it does refuse a broken one, so the check above means something
    broken = text.replace("proxy_http_version 1.1;", "proxy_http_version 1.1")
    assert accepts(broken).returncode != 0
