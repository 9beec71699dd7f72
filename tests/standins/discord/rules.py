"""Discord's rules for what the bot sends: pure checks that raise Discord's 400s.

Message bodies (content, embeds, components, Components V2), modals and application
commands. No state: `state.World` calls these before it stores anything, so a request the
real Discord would refuse is refused here with the same code and field path.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .model import FLAG_COMPONENTS_V2, DiscordHTTPError, form_error, new_snowflake

MAX_CONTENT = 2000
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$", re.UNICODE)
_MAX_COMMANDS = {1: 100, 2: 15, 3: 15}
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


_SELECT_TYPES = (3, 5, 6, 7, 8)


def echo_components(components: Any) -> list[dict[str, Any]]:
    """Store components as Discord echoes them: numeric `id`s filled in sequentially
    (skipping ids already used) and select/container defaults made explicit."""
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
        if comp.get("type") in _SELECT_TYPES:
            comp.setdefault("min_values", 1)
            comp.setdefault("max_values", 1)
        if comp.get("type") == 17:
            comp.setdefault("accent_color", None)
            comp.setdefault("spoiler", False)
    return components


def check_not_empty(content, embeds, components, attachments, payload: dict[str, Any]) -> None:
    if not (content or embeds or components or attachments) and not (
        payload.get("sticker_ids") or payload.get("poll")
    ):
        raise DiscordHTTPError(400, 50006, "Cannot send an empty message")


def check_components_v2(flags: int, content: str | None, embeds: list[Any]) -> None:
    if flags & FLAG_COMPONENTS_V2 and (content or embeds):
        raise form_error(
            "content",
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' and 'embeds' fields cannot be used when using "
            "MessageFlags.IS_COMPONENTS_V2",
        )


def validate_modal(data: dict[str, Any]) -> None:
    def bad_length(path: str, lo: int, hi: int, value: Any) -> None:
        if not isinstance(value, str) or not lo <= len(value) <= hi:
            raise form_error(
                path, "BASE_TYPE_BAD_LENGTH", f"Must be between {lo} and {hi} in length."
            )

    bad_length("data.custom_id", 1, 100, data.get("custom_id"))
    bad_length("data.title", 1, 45, data.get("title"))
    comps = data.get("components")
    if not isinstance(comps, list) or not 1 <= len(comps) <= 5:
        raise form_error(
            "data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
        )
    seen: set[str] = set()
    for n, comp in enumerate(comps):
        base = f"data.components.{n}"
        inner: list[tuple[str, dict[str, Any], str | None]] = []
        if comp.get("type") == 1:
            inner = [
                (f"{base}.components.{i}", c, None)
                for i, c in enumerate(comp.get("components", []))
            ]
        elif comp.get("type") == 18:
            bad_length(f"{base}.label", 1, 45, comp.get("label"))
            if comp.get("description") is not None:
                bad_length(f"{base}.description", 0, 100, comp["description"])
            inner = [(f"{base}.component", comp.get("component") or {}, comp.get("label"))]
        for path, child, _label in inner:
            if "custom_id" in child:
                bad_length(f"{path}.custom_id", 1, 100, child["custom_id"])
                if child["custom_id"] in seen:
                    raise form_error(
                        f"{path}.custom_id",
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                seen.add(child["custom_id"])
            if child.get("type") == 4:
                if comp.get("type") == 1:
                    bad_length(f"{path}.label", 1, 45, child.get("label"))
                if child.get("style") not in (1, 2):
                    raise form_error(
                        f"{path}.style", "BASE_TYPE_CHOICES", "Value must be one of (1, 2)."
                    )
                for key, lo, hi in (("min_length", 0, 4000), ("max_length", 1, 4000)):
                    if key in child and not lo <= child[key] <= hi:
                        raise form_error(
                            f"{path}.{key}",
                            "NUMBER_TYPE_MAX",
                            f"Int value should be between {lo} and {hi}.",
                        )
                if "value" in child and len(child["value"] or "") > 4000:
                    raise form_error(
                        f"{path}.value", "BASE_TYPE_MAX_LENGTH", "Must be 4000 or fewer in length."
                    )
                if "placeholder" in child and len(child["placeholder"] or "") > 100:
                    raise form_error(
                        f"{path}.placeholder",
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 100 or fewer in length.",
                    )


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


def _validate_command(cmd: dict[str, Any], ctype: int, where: str) -> None:
    name = cmd.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        raise form_error(
            f"{where}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
        )
    description = cmd.get("description") or ""
    if ctype == 1:
        if not _COMMAND_NAME.match(name) or name != name.lower():
            raise form_error(
                f"{where}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if not 1 <= len(description) <= 100:
            raise form_error(
                f"{where}.description",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        _validate_options(cmd.get("options") or [], f"{where}.options", depth=0)
    elif description:
        raise form_error(
            f"{where}.description",
            "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
            "Context menu commands cannot have description",
        )


def _validate_options(options: list[dict[str, Any]], where: str, depth: int) -> None:
    if len(options) > 25:
        raise form_error(where, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    names: set[str] = set()
    seen_optional = False
    kinds = {o.get("type") in (1, 2) for o in options}
    if len(kinds) > 1:
        raise form_error(
            where,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive "
            "to all other types",
        )
    for n, opt in enumerate(options):
        path = f"{where}.{n}"
        otype = opt.get("type")
        name = opt.get("name")
        if not isinstance(name, str) or not _COMMAND_NAME.match(name) or name != name.lower():
            raise form_error(
                f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if name in names:
            raise form_error(
                f"{path}.name",
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(name)
        if not 1 <= len(opt.get("description") or "") <= 100:
            raise form_error(
                f"{path}.description",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if otype not in range(1, 12):
            raise form_error(
                f"{path}.type", "BASE_TYPE_CHOICES", f"Value must be one of {list(range(1, 12))}."
            )
        if (otype == 2 and depth > 0) or (otype == 1 and depth > 1):
            raise form_error(
                f"{path}.type", "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Nesting too deep"
            )
        if otype in (1, 2):
            _validate_options(opt.get("options") or [], f"{path}.options", depth + 1)
            continue
        if opt.get("required"):
            if seen_optional:
                raise form_error(
                    f"{path}.required",
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        if len(opt.get("choices") or []) > 25:
            raise form_error(
                f"{path}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
