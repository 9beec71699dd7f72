"""Discord's rules for what the bot sends: pure checks that raise Discord's 400s.

Message bodies (content, embeds, components), modals and application
commands. No state: `state.World` calls these before it stores anything, so a request the
real Discord would refuse is refused here with the same code and field path.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .model import DiscordHTTPError, form_error, new_snowflake

MAX_CONTENT = 2000
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$", re.UNICODE)
_MAX_COMMANDS = {1: 100, 2: 15, 3: 15}
# The keys Discord takes in `name_localizations` and `description_localizations`.
DISCORD_LOCALES = frozenset(
    {"id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl"}
    | {"no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi"}
    | {"th", "zh-CN", "ja", "zh-TW", "ko"}
)
# Interaction type -> callback types Discord accepts for it.
CALLBACK_TYPES = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}


def check_content(content: Any) -> str | None:
    if content is None:
        return None
    if not isinstance(content, str):
        raise form_error("content", "BASE_TYPE_STRING", "Must be a string.")
    if len(content) > MAX_CONTENT:
        raise form_error(
            "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
        )
    return content


_EMBED_LIMITS = {"title": 256, "description": 4096}


def check_embeds(payload: dict[str, Any]) -> list[dict[str, Any]]:
    embeds = payload.get("embeds")
    if embeds is None and payload.get("embed"):
        embeds = [payload["embed"]]
    embeds = embeds or []
    if not isinstance(embeds, list):
        raise form_error("embeds", "LIST_TYPE_CONVERT", "Must be a list.")
    if len(embeds) > 10:
        raise form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for n, embed in enumerate(embeds):
        for key, limit in _EMBED_LIMITS.items():
            text = embed.get(key) or ""
            total += len(text)
            if len(text) > limit:
                raise form_error(
                    f"embeds.{n}.{key}",
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {limit} or fewer in length.",
                )
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise form_error(f"embeds.{n}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")
        for fld in fields:
            total += len(fld.get("name", "")) + len(fld.get("value", ""))
        total += len((embed.get("footer") or {}).get("text", ""))
        total += len((embed.get("author") or {}).get("name", ""))
    if total > 6000:
        raise form_error(
            "embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )
    return embeds


def echo_components(components: Any) -> list[dict[str, Any]]:
    """Store components as Discord echoes them: numeric `id`s filled in sequentially,
    skipping ids already used."""
    if components is None:
        return []
    if not isinstance(components, list):
        raise form_error("components", "LIST_TYPE_CONVERT", "Must be a list.")
    components = json.loads(json.dumps(components))  # our own copy
    every: list[dict[str, Any]] = []

    def walk(comp: Any) -> None:
        if not isinstance(comp, dict):
            return
        every.append(comp)
        for key in ("components", "items"):
            for child in comp.get(key) or []:
                walk(child)
        for key in ("component", "accessory"):
            walk(comp.get(key))

    for comp in components:
        walk(comp)
    used = {c["id"] for c in every if isinstance(c.get("id"), int)}
    next_id = 1
    for comp in every:
        if not isinstance(comp.get("id"), int):
            while next_id in used:
                next_id += 1
            comp["id"] = next_id
            used.add(next_id)
    return components


def check_not_empty(content, embeds, components, attachments, payload: dict[str, Any]) -> None:
    if not (content or embeds or components or attachments) and not (
        payload.get("sticker_ids") or payload.get("poll")
    ):
        raise DiscordHTTPError(400, 50006, "Cannot send an empty message")


def _require(ok: bool, path: str, code: str, message: str) -> None:
    """Discord's 50035 for the field at `path` unless `ok`."""
    if not ok:
        raise form_error(path, code, message)


def _length(path: str, value: Any, lo: int, hi: int) -> None:
    ok = isinstance(value, str) and lo <= len(value) <= hi
    _require(ok, path, "BASE_TYPE_BAD_LENGTH", f"Must be between {lo} and {hi} in length.")


# What a modal may hold: at the top, action rows (one text input each, the old way),
# Labels (type 18) and Text Displays (10); inside a Label, a text input (4), a select
# (3 string, 5 user, 6 role, 7 mentionable, 8 channel), a file upload (19), or a radio
# group / checkbox group / checkbox (21, 22, 23).
MODAL_TOP_LEVEL = (1, 10, 18)
LABEL_CHILDREN = (3, 4, 5, 6, 7, 8, 19, 21, 22, 23)


def validate_modal(data: dict[str, Any]) -> None:
    """A modal callback's `data`, checked as Discord checks it: custom_id 1-100, title
    1-45, 1-5 top-level components (action rows holding one text input, Labels, text
    displays), Labels 1-45 with a description <= 100 and one allowed component, unique
    custom ids, text inputs and string selects within Discord's limits."""
    _length("data.custom_id", data.get("custom_id"), 1, 100)
    _length("data.title", data.get("title"), 1, 45)
    comps = data.get("components")
    ok = isinstance(comps, list) and 1 <= len(comps) <= 5
    _require(ok, "data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
    seen: set[str] = set()
    for n, comp in enumerate(comps or []):
        base = f"data.components.{n}"
        ctype = comp.get("type") if isinstance(comp, dict) else None
        _require(
            ctype in MODAL_TOP_LEVEL,
            f"{base}.type",
            "UNION_TYPE_CHOICES",
            f'Value of field "type" must be one of {MODAL_TOP_LEVEL}.',
        )
        inner: list[tuple[str, dict[str, Any]]] = []
        if ctype == 1:
            children = comp.get("components") or []
            _require(
                len(children) == 1 and children[0].get("type") == 4,
                f"{base}.components",
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED" if len(children) > 1 else "UNION_TYPE_CHOICES",
                "An action row in a modal holds exactly one text input",
            )
            inner = [(f"{base}.components.{i}", c) for i, c in enumerate(children)]
        elif ctype == 18:
            _length(f"{base}.label", comp.get("label"), 1, 45)
            if comp.get("description") is not None:
                _length(f"{base}.description", comp["description"], 1, 100)
            child = comp.get("component")
            _require(
                isinstance(child, dict) and child.get("type") in LABEL_CHILDREN,
                f"{base}.component.type",
                "UNION_TYPE_CHOICES",
                f'Value of field "type" must be one of {LABEL_CHILDREN}.',
            )
            inner = [(f"{base}.component", child)]
        elif ctype == 10:
            _length(f"{base}.content", comp.get("content"), 1, 4000)
        for path, child in inner:
            if "custom_id" in child:
                _length(f"{path}.custom_id", child["custom_id"], 1, 100)
                duplicate = child["custom_id"] in seen
                _require(
                    not duplicate,
                    f"{path}.custom_id",
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
                seen.add(child["custom_id"])
            if child.get("type") == 4:
                _text_input(path, child, in_row=comp.get("type") == 1)
            elif child.get("type") == 3:
                _string_select(path, child)


def _string_select(path: str, select: dict[str, Any]) -> None:
    """A String Select: 1-25 options with labels/values 1-100 (values unique), description
    <= 100, placeholder <= 150, 0 <= min_values <= max_values <= 25 and no more than the
    options, and no more options marked `default` than max_values."""
    _length(f"{path}.custom_id", select.get("custom_id"), 1, 100)
    options = select.get("options")
    ok = isinstance(options, list) and 1 <= len(options) <= 25
    _require(ok, f"{path}.options", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
    values: set[str] = set()
    for i, option in enumerate(options or []):
        where = f"{path}.options.{i}"
        _length(f"{where}.label", option.get("label"), 1, 100)
        _length(f"{where}.value", option.get("value"), 1, 100)
        if option.get("description") is not None:
            _length(f"{where}.description", option["description"], 0, 100)
        _require(
            option["value"] not in values,
            f"{where}.value",
            "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
            "Select component option values must be unique",
        )
        values.add(option["value"])
    ok = len(select.get("placeholder") or "") <= 150
    _require(ok, f"{path}.placeholder", "BASE_TYPE_MAX_LENGTH", "Must be 150 or fewer in length.")
    lo, hi = select.get("min_values", 1), select.get("max_values", 1)
    ok = isinstance(lo, int) and 0 <= lo <= 25
    _require(ok, f"{path}.min_values", "NUMBER_TYPE_MAX", "Int value should be between 0 and 25.")
    ok = isinstance(hi, int) and 1 <= hi <= 25
    _require(ok, f"{path}.max_values", "NUMBER_TYPE_MAX", "Int value should be between 1 and 25.")
    _require(
        lo <= hi,
        f"{path}.min_values",
        "SELECT_COMPONENT_MIN_VALUES_TOO_LARGE",
        "min_values must be less than or equal to max_values",
    )
    _require(
        hi <= len(options or []),
        f"{path}.max_values",
        "BASE_TYPE_MAX",
        f"max_values must be {len(options or [])} or fewer (the number of options)",
    )
    defaults = sum(1 for o in options or [] if o.get("default"))
    _require(
        defaults <= hi,
        f"{path}.options",
        "SELECT_COMPONENT_TOO_MANY_DEFAULT_VALUES",
        "Too many default values for this select",
    )


def _text_input(path: str, child: dict[str, Any], *, in_row: bool) -> None:
    if in_row:  # a Label carries the label of what it wraps
        _length(f"{path}.label", child.get("label"), 1, 45)
    ok = child.get("style") in (1, 2)
    _require(ok, f"{path}.style", "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
    for key, lo, hi in (("min_length", 0, 4000), ("max_length", 1, 4000)):
        ok = key not in child or lo <= child[key] <= hi
        _require(
            ok, f"{path}.{key}", "NUMBER_TYPE_MAX", f"Int value should be between {lo} and {hi}."
        )
    for key, hi in (("value", 4000), ("placeholder", 100)):
        ok = len(child.get(key) or "") <= hi
        _require(ok, f"{path}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {hi} or fewer in length.")


def _as_input(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    drop = {"id", "application_id", "version", "guild_id"}
    return [{k: v for k, v in c.items() if k not in drop} for c in commands]


def build_commands(
    app_id: int,
    existing: list[dict[str, Any]],
    incoming: list[Any],
    guild_id: int | None,
) -> list[dict[str, Any]]:
    """Validate like Discord and store; commands keep their id across syncs (by name+type)."""
    old = {(c["name"], c.get("type", 1)): c for c in existing}
    seen: set[tuple[str, int]] = set()
    counts = {1: 0, 2: 0, 3: 0}
    out: list[dict[str, Any]] = []
    for i, cmd in enumerate(incoming):
        if not isinstance(cmd, dict):
            raise form_error(f"{i}", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        ctype = cmd.get("type") or 1
        _validate_command(cmd, ctype, str(i))
        key = (cmd["name"], ctype)
        if key in seen:
            raise form_error(
                f"{i}.name",
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        seen.add(key)
        counts[ctype] = counts.get(ctype, 0) + 1
        if counts[ctype] > _MAX_COMMANDS.get(ctype, 5):
            raise DiscordHTTPError(400, 30032, "Maximum number of application commands reached")
        previous = old.get(key)
        perms = cmd.get("default_member_permissions")
        stored: dict[str, Any] = {
            "id": previous["id"] if previous else str(new_snowflake()),
            "application_id": str(app_id),
            "version": str(new_snowflake()),
            "default_member_permissions": (
                None if perms is None else str(int(perms))  # Discord answers with a string
            ),
            "type": ctype,
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description", ""),
            "description_localizations": cmd.get("description_localizations"),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types") or [0],
            "nsfw": bool(cmd.get("nsfw", False)),
        }
        if cmd.get("options"):
            stored["options"] = cmd["options"]
        if guild_id is None:
            stored["dm_permission"] = cmd.get("dm_permission", True)
        else:
            stored["guild_id"] = str(guild_id)
        if previous is not None and _as_input([previous]) == _as_input([stored]):
            stored["version"] = previous["version"]
        out.append(stored)
    return out


def _valid_name(name: Any) -> bool:
    return isinstance(name, str) and bool(_COMMAND_NAME.match(name)) and name == name.lower()


def _localizations(path: str, value: Any, hi: int, *, names: bool = False) -> None:
    """A `*_localizations` map: Discord's locales only, each text 1-`hi` long (and a valid
    name where it localises a slash command's or an option's name)."""
    if value is None:
        return
    _require(isinstance(value, dict), path, "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
    for locale, text in value.items():
        _require(
            locale in DISCORD_LOCALES,
            f"{path}.{locale}",
            "BASE_TYPE_CHOICES",
            f"Value must be one of {tuple(sorted(DISCORD_LOCALES))}.",
        )
        _length(f"{path}.{locale}", text, 1, hi)
        if names:
            invalid = ("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            _require(_valid_name(text), f"{path}.{locale}", *invalid)


def _validate_command(cmd: dict[str, Any], ctype: int, where: str) -> None:
    _length(f"{where}.name", cmd.get("name"), 1, 32)
    _localizations(
        f"{where}.name_localizations", cmd.get("name_localizations"), 32, names=ctype == 1
    )
    _localizations(f"{where}.description_localizations", cmd.get("description_localizations"), 100)
    description = cmd.get("description") or ""
    if ctype != 1:
        _require(
            not description,
            f"{where}.description",
            "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
            "Context menu commands cannot have description",
        )
        return
    invalid_name = ("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    _require(_valid_name(cmd["name"]), f"{where}.name", *invalid_name)
    _length(f"{where}.description", description, 1, 100)
    _validate_options(cmd.get("options") or [], f"{where}.options", depth=0)


def _validate_options(options: list[dict[str, Any]], where: str, depth: int) -> None:
    """Options as Discord checks them: <= 25, unique valid names, descriptions 1-100,
    subcommands nested at most twice and never beside plain options, required first."""
    _require(len(options) <= 25, where, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    type_invalid = "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID"
    _require(
        len({o.get("type") in (1, 2) for o in options}) <= 1,
        where,
        type_invalid,
        "Sub-command and sub-command group option types are mutually exclusive to all other types",
    )
    names: set[str] = set()
    seen_optional = False
    for n, opt in enumerate(options):
        path = f"{where}.{n}"
        otype, name = opt.get("type"), opt.get("name")
        invalid_name = ("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        _require(_valid_name(name), f"{path}.name", *invalid_name)
        unique = ("APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option names must be unique")
        _require(name not in names, f"{path}.name", *unique)
        names.add(str(name))
        _length(f"{path}.description", opt.get("description") or "", 1, 100)
        _localizations(f"{path}.name_localizations", opt.get("name_localizations"), 32, names=True)
        _localizations(
            f"{path}.description_localizations", opt.get("description_localizations"), 100
        )
        for c, choice in enumerate(opt.get("choices") or []):
            _length(f"{path}.choices.{c}.name", choice.get("name"), 1, 100)
            _localizations(
                f"{path}.choices.{c}.name_localizations", choice.get("name_localizations"), 100
            )
        choices = list(range(1, 12))
        _require(
            otype in choices,
            f"{path}.type",
            "BASE_TYPE_CHOICES",
            f"Value must be one of {choices}.",
        )
        too_deep = (otype == 2 and depth > 0) or (otype == 1 and depth > 1)
        _require(not too_deep, f"{path}.type", type_invalid, "Nesting too deep")
        if otype in (1, 2):
            _validate_options(opt.get("options") or [], f"{path}.options", depth + 1)
            continue
        _require(
            not (opt.get("required") and seen_optional),
            f"{path}.required",
            "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
            "Required options must be placed before non-required options",
        )
        seen_optional = seen_optional or not opt.get("required")
        ok = len(opt.get("choices") or []) <= 25
        _require(ok, f"{path}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
