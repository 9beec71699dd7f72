"""The Docker files agree with each other and with the bot (no Docker engine needed).

The image can't be built in the suite, so what can go wrong in it is checked from the files:
compose.yaml against the official Compose schema, the Dockerfile's health check, user and
copies, the .env.example an owner passes with --env-file, and the build context.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot.core.config import Settings, load_settings
from bot.core.media.worker import PRELOAD
from bot.discord.bot import EXTENSIONS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_SCHEMA = ROOT / "tests" / "fixtures" / "compose" / "compose-spec.json"
# What the bot waits for uploads at shutdown when Settings has no such field yet.
DEFAULT_SHUTDOWN_GRACE_SECONDS = 20.0


# --- reading the files ----------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, COPY, HEALTHCHECK...
    arguments: str


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment lines even inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(arguments.split())))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def only(keyword: str) -> str:
    [found] = [i.arguments for i in dockerfile() if i.keyword == keyword]
    return found


def image_env() -> dict[str, str]:
    """What the Dockerfile's ENV instructions set (the `NAME=value ...` form)."""
    env: dict[str, str] = {}
    for instruction in dockerfile():
        if instruction.keyword == "ENV":
            for pair in instruction.arguments.split():
                name, equals, value = pair.partition("=")
                assert equals, f"ENV without '=' (the legacy form): {instruction.arguments}"
                env[name] = value
    return env


def copies() -> list[tuple[str, str]]:
    """(source, destination) of every COPY, both relative and without a trailing slash."""
    pairs = []
    for instruction in dockerfile():
        if instruction.keyword == "COPY":
            *sources, destination = instruction.arguments.split()
            assert not any(s.startswith("--") for s in sources), "COPY flags aren't expected"
            pairs += [(s.rstrip("/"), destination.rstrip("/")) for s in sources]
    return pairs


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def default_services() -> dict[str, Any]:
    """What `docker compose up` starts: the services in no profile."""
    services = compose()["services"]
    return {name: service for name, service in services.items() if "profiles" not in service}


def the_service() -> dict[str, Any]:
    [service] = default_services().values()
    assert isinstance(service, dict)
    return service


def scale_services() -> dict[str, Any]:
    """What `--profile scale` adds (docs/scaling.md)."""
    services = compose()["services"]
    return {name: s for name, s in services.items() if "scale" in s.get("profiles", [])}


def interpolated(value: str, env: dict[str, str] | None = None) -> str:
    """`value` as Compose reads it with `env` as .env: `${NAME:-default}` is env's value when
    set and not empty, else the default; a bare `${NAME}` must be in `env`."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        if (env or {}).get(name):
            return (env or {})[name]
        assert default is not None, f"${{{name}}} has no default: compose would need it set"
        return default

    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(:-([^}]*))?\}", substitute, value)


def env_example() -> dict[str, str]:
    """The settings .env.example sets (commented-out lines don't count)."""
    settings = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            settings[name.strip()] = value
    return settings


def duration_seconds(text: str) -> float:
    """A Compose duration ("30s", "1m30s", "1.5m") in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def shutdown_grace_seconds() -> float:
    """The bot's default grace for uploads at shutdown (SHUTDOWN_GRACE_SECONDS)."""
    for field in dataclasses.fields(Settings):
        if field.name == "shutdown_grace_seconds":
            assert isinstance(field.default, int | float)
            return float(field.default)
    return DEFAULT_SHUTDOWN_GRACE_SECONDS


# --- compose.yaml -----------------------------------------------------------------------------


def compose_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    # Its `$schema` (".../draft-07/schema", no "#") isn't one jsonschema recognises by URL.
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_compose_file_matches_the_official_schema() -> None:
    errors = [error.message for error in compose_validator().iter_errors(compose())]
    assert errors == []


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("service", "restart_policy", "unless-stopped"),  # a Swarm key, not a service's
        ("service", "healthcheck", {"test": ["CMD", "true"], "start-period": "1s"}),
        ("service", "stop_grace_period", 30),  # a number, not a duration
        ("top", "volume", {"data": None}),
    ],
)
def test_the_schema_check_catches_a_misspelt_key(where: str, key: str, value: Any) -> None:
    broken = compose()
    target = next(iter(broken["services"].values())) if where == "service" else broken
    target[key] = value
    assert list(compose_validator().iter_errors(broken))


def test_compose_runs_the_image_as_documented() -> None:
    service = the_service()
    assert service["build"] in (".", {"context": "."})
    assert service["env_file"] in (".env", [".env"])
    assert service["restart"] == "unless-stopped"
    assert service["init"] is True
    [data] = [v for v in service["volumes"] if v.split(":")[1] == "/data"]
    volume = data.split(":")[0]
    assert volume in compose()["volumes"], "the database must live in a named volume"


def test_compose_waits_longer_than_the_bot_lets_uploads_finish() -> None:
    grace = shutdown_grace_seconds()
    assert grace > 0
    assert duration_seconds(the_service()["stop_grace_period"]) >= grace + 5


def test_compose_health_check_is_the_images() -> None:
    check = the_service()["healthcheck"]
    command = json.loads(only("HEALTHCHECK").partition(" CMD ")[2])
    assert check["test"] == ["CMD", *command]
    assert duration_seconds(check["start_period"]) > 0
    assert duration_seconds(check["timeout"]) > 3.0  # bot.healthcheck's own timeout


def test_compose_publishes_the_configured_port() -> None:
    [port] = the_service()["ports"]
    # Compose fills ${WEBHOOK_PORT:-8080} from .env; the container side must be it too.
    assert port.endswith(":${WEBHOOK_PORT:-8080}")
    assert f":-{Settings.__dataclass_fields__['webhook_port'].default}}}" in port


def test_the_default_is_still_one_bot_on_sqlite() -> None:
    assert list(default_services()) == ["bot"]
    environment = the_service()["environment"]
    assert not {"DATABASE_URL", "SHARD_COUNT", "SHARD_IDS"} & set(environment)


def test_the_scale_profile_has_postgres_with_a_volume_and_a_health_check() -> None:
    postgres = scale_services()["postgres"]
    assert postgres["image"].split(":")[0] == "postgres"
    assert postgres["image"].split(":")[1].split(".")[0] == "15"
    [data] = postgres["volumes"]
    volume, _, path = data.partition(":")
    assert path == "/var/lib/postgresql/data" and volume in compose()["volumes"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert "ports" not in postgres, "the database is for the bots only"


def replica_settings() -> dict[str, Settings]:
    """Each bot replica's settings as it would load them (required ones filled in)."""
    found = {}
    for name, service in scale_services().items():
        if name == "postgres":
            continue
        env = {key: interpolated(str(value)) for key, value in service["environment"].items()}
        found[name] = load_settings({"DISCORD_TOKEN": "t", "MUSICGPT_API_KEY": "k", **env})
    return found


def test_the_scale_profile_splits_the_shards_over_two_bots_on_the_one_database() -> None:
    services = scale_services()
    replicas = replica_settings()
    assert len(replicas) == 2
    shards = sorted(shard for s in replicas.values() for shard in s.shard_ids or ())
    assert {s.shard_count for s in replicas.values()} == {2} and shards == [0, 1]
    postgres = services["postgres"]["environment"]
    for name, settings in replicas.items():
        service = services[name]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert settings.database_url is not None
        url = urlsplit(settings.database_url)
        assert (url.hostname, url.path) == ("postgres", f"/{postgres['POSTGRES_DB']}")
        assert url.username == postgres["POSTGRES_USER"]
        assert url.password == interpolated(postgres["POSTGRES_PASSWORD"])
        # The rest is the single bot's: the image, .env, restarts, grace, health check.
        for key in ("build", "env_file", "restart", "init", "stop_grace_period", "healthcheck"):
            assert service[key] == the_service()[key], (name, key)


def test_each_bot_replica_has_its_own_port_and_data_folder() -> None:
    services = scale_services()
    replicas = replica_settings()
    ports = {settings.webhook_port for settings in replicas.values()}
    assert len(ports) == len(replicas) and the_service_port() not in ports
    for name, settings in replicas.items():
        [published] = services[name]["ports"]
        assert published == f"127.0.0.1:{settings.webhook_port}:{settings.webhook_port}"
        assert settings.webhook_host == "0.0.0.0"  # the published port reaches it
    volumes = [v.split(":")[0] for name in replicas for v in services[name]["volumes"]]
    assert len(set(volumes)) == len(replicas) and "data" not in volumes
    assert set(volumes) <= set(compose()["volumes"])


def the_service_port() -> int:
    return int(interpolated(the_service()["ports"][0]).split(":")[-1])


def test_a_postgres_password_from_env_reaches_both_sides() -> None:
    env = {"POSTGRES_PASSWORD": "from-dotenv"}
    services = scale_services()
    assert interpolated(services["postgres"]["environment"]["POSTGRES_PASSWORD"], env) == (
        "from-dotenv"
    )
    for name in ("bot-shard-0", "bot-shard-1"):
        url = interpolated(services[name]["environment"]["DATABASE_URL"], env)
        assert urlsplit(url).password == "from-dotenv"


# --- Dockerfile -------------------------------------------------------------------------------


def test_health_check_is_exec_form_with_a_start_period() -> None:
    options, _, command = only("HEALTHCHECK").partition(" CMD ")
    assert json.loads(command) == ["python", "-m", "bot.healthcheck"]
    flags = dict(flag.removeprefix("--").split("=") for flag in options.split())
    assert duration_seconds(flags["start-period"]) > 0
    assert duration_seconds(flags["timeout"]) > 3.0


def test_the_bot_runs_in_exec_form_as_a_numeric_user() -> None:
    assert json.loads(only("CMD")) == ["python", "-m", "bot"]
    user, _, group = only("USER").partition(":")
    assert user.isdigit() and int(user) > 0
    assert not group or (group.isdigit() and int(group) > 0)


def test_base_image_is_pinned_by_tag() -> None:
    image = only("FROM").split()[0]
    name, _, tag = image.partition(":")
    assert name == "python" and tag.startswith("3.11"), image
    assert re.fullmatch(r"3\.11\.\d+-slim-\w+", tag.split("@")[0]), "a patch release, slim"


def test_the_image_owns_the_database_path_in_its_volume() -> None:
    database = Path(image_env()["DATABASE_PATH"])
    volumes = json.loads(only("VOLUME"))
    assert any(database.is_relative_to(volume) for volume in volumes)


def test_env_example_sets_nothing_the_image_sets() -> None:
    settings = env_example()
    assert "DISCORD_TOKEN" in settings  # the parser reads it at all
    assert "DATABASE_PATH" not in settings
    assert not set(settings) & set(image_env())


def test_env_example_reads_the_same_under_docker_and_dotenv() -> None:
    # `docker run --env-file` takes every value literally: no quotes removed, no "# ..."
    # comments after a value, no `export`. python-dotenv would strip those; Docker wouldn't.
    for name, value in env_example().items():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), name
        assert value == value.strip() and "#" not in value, name
        assert not value.startswith(("'", '"')), name


# --- what the image holds ---------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*/?|\*|\?)", pattern.strip("/"))
    wild = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wild.get(p, re.escape(p)) for p in parts))


def build_context_excludes(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context: as Docker's matcher, a
    pattern matching the path or any folder above it counts, the last match wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in dockerignore_patterns():
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".env",
        ".env.local",
        ".git/HEAD",
        "data/bot.sqlite3",
        "bot.sqlite3-wal",
        "tests/unit/test_docker.py",
        "bench/__main__.py",
        "bot/__pycache__/config.cpython-311.pyc",
        ".mypy_cache/3.11/bot/config.meta.json",
    ],
)
def test_build_context_leaves_out(path: str) -> None:
    assert build_context_excludes(path)


@pytest.mark.parametrize(
    "path",
    ["requirements.txt", "bot/__main__.py", "bot/core/musicgpt/openapi.yaml", "cogs/sing.py"],
)
def test_build_context_keeps(path: str) -> None:
    assert not build_context_excludes(path)


def test_everything_copied_is_in_the_build_context() -> None:
    assert copies()
    for source, _ in copies():
        assert (ROOT / source).exists(), source
        assert not build_context_excludes(source), source


def _module_file(name: str) -> Path | None:
    """The project's file for module `name`, or None if it isn't one of the project's."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, package: str) -> set[str]:
    """Every module `path` imports (at any depth: function-level imports run at start too),
    `from a import b` counting as `a` and, when it is one, the module `a.b`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules_loaded_at_run_time() -> tuple[set[Path], set[str]]:
    """The project's files and the other top-level modules that `python -m bot` and the
    health check reach: imports followed from bot/__main__.py, the extensions it loads by
    name, and the modules its audio worker preloads by name."""
    roots = ["bot.__main__", "bot.healthcheck", *EXTENSIONS, *PRELOAD]
    files: set[Path] = set()
    external: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        parts = name.split(".")
        # A package's __init__ runs before any module in it.
        for depth in range(1, len(parts) + 1):
            path = _module_file(".".join(parts[:depth]))
            if path is None:
                if depth == 1:
                    external.add(parts[0])
                break
            if path in files:
                continue
            files.add(path)
            package = ".".join(parts[:depth] if path.name == "__init__.py" else parts[: depth - 1])
            pending += sorted(_imports(path, package))
    return files, external


def test_every_module_the_bot_imports_is_copied_into_the_image() -> None:
    files, _ = modules_loaded_at_run_time()
    relative = {path.relative_to(ROOT).as_posix() for path in files}
    assert {"bot/__main__.py", "bot/healthcheck.py", "cogs/sing.py", "bot/core/media/probe.py"} <= (
        relative
    )
    copied = [source for source, destination in copies() if source == destination]
    missing = [p for p in sorted(relative) if not any(p.startswith(f"{s}/") for s in copied)]
    assert missing == [], "imported at run time but not copied into the image"


def _requirements_closure() -> set[str]:
    """requirements.txt's distributions and what they need on this Python, as installed here."""
    pending = [
        Requirement(line.partition("#")[0])
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    ]
    closure: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in closure or (requirement.marker and not requirement.marker.evaluate()):
            continue  # extras and other Pythons' backports aren't installed in the image
        closure.add(name)
        pending += [Requirement(r) for r in importlib.metadata.requires(name) or []]
    return closure


def test_every_library_the_bot_imports_is_installed_from_requirements() -> None:
    _, external = modules_loaded_at_run_time()
    distributions = importlib.metadata.packages_distributions()
    closure = _requirements_closure()
    third_party = sorted(external - set(sys.stdlib_module_names))
    assert "discord" in third_party and "av" in third_party
    for module in third_party:
        owners = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert owners & closure, f"{module} comes from none of requirements.txt's packages"
