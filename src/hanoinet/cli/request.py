"""``hanoinet request ...``: cooperation requests for duty officers, through the node's API.

Made to be read at a terminal at 3 a.m.: emergencies, overdue items, confidentiality and "do not notify the
user" are marked in words and colour, never only by colour.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.panel import Panel
from rich.table import Column, Table
from rich.text import Text

from hanoinet.cli.common import ApiClient, NodeUrlOption, TokenOption, time_column
from hanoinet.cli.console import out, print_json, when
from hanoinet.errors import ValidationError

app = typer.Typer(help="Cooperation requests: preservation, traffic data, emergencies (Art. 41-43) and mutual legal "
                       "assistance (Art. 40, 44-48).",
                  no_args_is_help=True)

VersionOption = typer.Option(None, "--version", help="the version you read; refused if someone changed it since")
#: A request's fields name persons: reading one needs a reason, kept in the node's access log (docs/privacy.md).
ReasonOption = typer.Option(..., "--reason", help="why you read it (required): the request you answer, the case "
                            "you work on; kept in the access log with your name (docs/privacy.md)")
_PRIORITY_STYLE = {"emergency": "bold white on red", "urgent": "bold yellow", "normal": ""}
#: ``hanoinet request status REF STATE``: the action each state is reached by.
_STATUS_ACTIONS = {"in_progress": "start", "partially_executed": "partially_execute", "executed": "execute"}


def _marks(r: dict[str, Any]) -> Text:
    text = Text()
    if r["priority"] == "emergency":
        text.append(" EMERGENCY ", style="bold white on red")
    elif r["priority"] == "urgent":
        text.append("URGENT", style="bold yellow")
    if r.get("overdue"):
        text.append(" OVERDUE", style="bold red")
    if r.get("preservation_warning"):
        text.append(" PRESERVATION ENDS SOON", style="bold yellow")
    if r.get("confidential"):
        text.append(" CONFIDENTIAL", style="bold magenta")
    if r.get("do_not_notify"):
        text.append(" DO-NOT-NOTIFY-USER", style="bold magenta")
    return text


def _took(seconds: int | None) -> str:
    if seconds is None:
        return ""
    hours, rest = divmod(seconds, 3600)
    return f"took {hours}h {rest // 60:02d}m" if hours else f"took {rest // 60}m {rest % 60:02d}s"


def _left(seconds: int | None) -> str:
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m"
    return f"{sign}{parts}" + (" late" if sign else " left")


def _reason(given: str) -> str:
    from hanoinet.privacy.reasons import check_reason

    return check_reason(given, add="--reason TEXT")


def _client(node: str | None, token: str | None) -> ApiClient:
    return ApiClient(node, token)


def _done(r: dict[str, Any]) -> None:
    out.print(f"{r['ref']} is now [bold]{r['state']}[/] (version {r['version']})")


def _act(ref: str, action: str, node: str | None, token: str | None, version: int | None, **data: Any) -> None:
    body = {k: v for k, v in data.items() if v is not None}
    if version is not None:
        body["version"] = version
    _done(_client(node, token).call("POST", f"/api/v1/requests/{ref}/{action}", json=body))


def _load_json(value: str, what: str) -> Any:
    try:
        text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{what}: {value[1:]} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                              hint="save the file as UTF-8 JSON") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"{what} is not JSON: {exc}",
                              hint=f"give JSON inline, or @FILE to read it from a file, e.g. {what} @result.json") \
            from None


def _prompt_fields(spec: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in spec["fields"]:
        label = f"{f['label']} (Art. {f['article']}){'' if f['required'] else ' [optional]'}"
        out.print(f"[dim]{f['help']}[/]")
        if f["type"] == "bool":
            values[f["name"]] = typer.confirm(label, default=bool(f.get("must_be_true")))
        elif f["type"] == "offence":
            article = typer.prompt(f"{label}: article 7-17, or 'serious'", default="" if not f["required"] else None)
            if not article:
                continue
            offence: dict[str, Any] = {"article": article}
            if article == "serious":
                offence["domestic_offence"] = typer.prompt("  domestic offence")
                offence["max_penalty_years"] = int(typer.prompt("  maximum penalty (years)", type=int))
            values[f["name"]] = offence
        elif f["type"] == "list":
            raw = typer.prompt(f"{label} (separate items with ';')", default="" if not f["required"] else None)
            if raw:
                values[f["name"]] = [item.strip() for item in raw.split(";") if item.strip()]
        else:
            raw = typer.prompt(label, default="" if not f["required"] else None)
            if raw:
                values[f["name"]] = raw
    return values


@app.command("new")
def new(
    kind: str | None = typer.Option(None, help="the kind of request, e.g. preservation or stored_data; "
                                                "`hanoinet request kinds` lists them"),
    to: str | None = typer.Option(None, help="the requested desk, STATE/DESK, e.g. FRA/247"),
    from_file: Path | None = typer.Option(None, "--from", help="the whole request as JSON (kind, to, fields, ...)"),
    priority: str | None = typer.Option(None, help="emergency, urgent or normal (default: the kind's)"),
    language: str = typer.Option("en", help="language the request is written in (BCP 47)"),
    case: str | None = typer.Option(None, help="your case reference"),
    draft: bool = typer.Option(False, "--draft", help="keep it as a draft instead of sending it"),
    as_json: bool = typer.Option(False, "--json"),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Make a request: from a JSON file, or by answering a prompt per field (each shows its article)."""
    client = _client(node, token)
    body: dict[str, Any] = {}
    if from_file is not None:
        body = _load_json("@" + str(from_file), "--from")
        if not isinstance(body, dict):
            raise ValidationError("--from must hold a JSON object with kind, to and fields")
    body.setdefault("language", language)
    for key, value in (("kind", kind), ("to", to), ("priority", priority), ("case", case)):
        if value is not None:
            body[key] = value
    if from_file is None:
        if not sys.stdin.isatty():
            raise ValidationError("no request given", hint="pass --from FILE.json, or run in a terminal to be asked")
        catalogue = client.call("GET", "/api/v1/convention")
        body.setdefault("kind", typer.prompt(f"Kind ({', '.join(catalogue['kinds'])})"))
        body.setdefault("to", typer.prompt("To (STATE/DESK)"))
        spec = catalogue["kinds"].get(body["kind"])
        if spec is None:
            raise ValidationError(f"unknown kind {body['kind']!r}", hint=f"kinds: {', '.join(catalogue['kinds'])}")
        body["fields"] = _prompt_fields(spec)
    body["send"] = not draft
    result = client.call("POST", "/api/v1/requests", json=body)
    if as_json:
        print_json(result)
        return
    verb = "drafted" if draft else "sent"
    out.print(f"{verb} [bold]{result['ref']}[/] ({result['kind_title']}, Art. {result['article']}) to "
              f"{result['requested']}: {result['state']}")


def _field_value(spec: dict[str, Any], raw: str) -> Any:
    """A field's value typed on the command line, read as its type says (`--set FIELD=VALUE`)."""
    kind = spec["type"]
    if kind in ("text", "longtext", "state", "datetime"):
        return raw
    if kind == "bool":
        answer = {"true": True, "yes": True, "false": False, "no": False}.get(raw.strip().lower())
        if answer is None:
            raise ValidationError(f"--set {spec['name']}: {raw!r} is not true or false",
                                  hint=f"write --set {spec['name']}=true or --set {spec['name']}=false")
        return answer
    if kind == "list":
        return [item.strip() for item in raw.split(";") if item.strip()]
    try:
        return json.loads(Path(raw[1:]).read_text(encoding="utf-8") if raw.startswith("@") else raw)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"--set {spec['name']}: a {kind} is written as JSON, and {raw!r} is not ({exc})",
                              hint=f"e.g. --set '{spec['name']}={{\"article\": \"10\"}}', or "
                                   f"--set {spec['name']}=@{spec['name']}.json to read it from a file") from None


@app.command("edit")
def edit(
    ref: str,
    from_file: Path | None = typer.Option(None, "--from", help="new contents as JSON (to, fields, language, "
                                                               "priority, case): what it gives replaces the "
                                                               "draft's, fields whole"),
    set_: list[str] = typer.Option([], "--set", help="FIELD=VALUE: give one field (true/false; lists: items "
                                                     "separated by ';'; offences and objects: JSON or @FILE); "
                                                     "repeat for more"),
    unset: list[str] = typer.Option([], "--unset", metavar="FIELD", help="leave an optional field out"),
    to: str | None = typer.Option(None, help="another requested desk, STATE/DESK"),
    priority: str | None = typer.Option(None, help="emergency, urgent or normal"),
    language: str | None = typer.Option(None, help="language the request is written in (BCP 47)"),
    case: str | None = typer.Option(None, help="your case reference"),
    send_now: bool = typer.Option(False, "--send", help="send it once changed"),
    version: int | None = VersionOption,
    reason: str | None = typer.Option(None, "--reason", help="why you read the draft, kept in the access log "
                                      "(default: to edit it)"),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Change a draft, e.g. one the other State did not take, and send it with --send."""
    from hanoinet.states import split_address  # with pycountry: only here, not at start-up

    client = _client(node, token)
    current = client.call("GET", f"/api/v1/requests/{ref}", params={"reason": _reason(reason or f"to edit {ref}")})
    body: dict[str, Any] = {
        "kind": current["kind"], "to": current["requested"], "language": current["language"],
        "priority": current["priority"], "case": current["case"],
        "fields": {f["name"]: f["value"] for f in current["fields"] if f["value"] is not None}}
    if from_file is not None:
        given = _load_json("@" + str(from_file), "--from")
        if not isinstance(given, dict):
            raise ValidationError("--from must hold a JSON object (to, fields, language, priority, case)")
        desk = split_address(current["requesting"])[1]
        if given.pop("desk", desk) != desk:
            raise ValidationError(f"--from names another sending desk than {desk}; a draft keeps its desk",
                                  hint="leave desk out, or make a new request from the other desk")
        given.pop("send", None)  # a file written for `request new`; sending here is --send
        body.update(given)
    fields = body["fields"]
    if set_ or unset:
        specs = {f["name"]: f for f in client.call("GET", "/api/v1/convention")["kinds"][current["kind"]]["fields"]}
        for item in set_:
            name, sep, raw = item.partition("=")
            if not sep or name not in specs:
                raise ValidationError(f"--set {item!r} does not name a field of a {current['kind']} request",
                                      hint=f"write --set FIELD=VALUE with FIELD one of {', '.join(specs)}")
            fields[name] = _field_value(specs[name], raw)
        for name in unset:
            if fields.pop(name, None) is None:
                raise ValidationError(f"--unset {name}: the draft gives no field {name}",
                                      hint=f"fields given: {', '.join(sorted(fields)) or 'none'}")
    for key, value in (("to", to), ("priority", priority), ("language", language), ("case", case)):
        if value is not None:
            body[key] = value
    # The version read: --version, or the file's, or the one just read here (a change made in between is refused).
    body["version"] = version if version is not None else body.get("version", current["version"])
    changed = client.call("PUT", f"/api/v1/requests/{ref}", json=body)
    if send_now:
        _act(ref, "send", node, token, changed["version"])
        return
    out.print(f"{ref} changed: still a draft (version {changed['version']}); "
              f"send it with `hanoinet request send {ref}`")


@app.command("send")
def send(ref: str, version: int | None = VersionOption, node: str | None = NodeUrlOption,
         token: str | None = TokenOption) -> None:
    """Send a draft."""
    _act(ref, "send", node, token, version)


@app.command("list")
def list_(
    state: str | None = typer.Option(None, help="only this state, e.g. received"),
    kind: str | None = typer.Option(None, help="only this kind"),
    desk: str | None = typer.Option(None, help="only this desk of ours"),
    overdue: bool = typer.Option(False, "--overdue", help="only those past their acknowledgement target"),
    as_json: bool = typer.Option(False, "--json"),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Requests of your desk, most recently changed first; emergencies and overdue items marked."""
    params: dict[str, Any] = {"overdue": overdue}
    for key, value in (("state", state), ("kind", kind), ("desk", desk)):
        if value:
            params[key] = value
    client = _client(node, token)
    rows = client.call("GET", "/api/v1/requests", params=params)
    if as_json:
        print_json(rows)
        return
    zone = client.zone()
    # Five columns, so that at 80 columns a reference, a mark or a time is never cut short: the reference (what
    # `request show REF` takes) and the case never wrap; the others wrap, and fold a word too long for them.
    table = Table(Column("ref\ncase", no_wrap=True), Column("marks", overflow="fold"), Column("kind", overflow="fold"),
                  Column("from → to\nstate", overflow="fold"), time_column("ack due"), title=f"{len(rows)} request(s)")
    for r in rows:
        direction = "IN " if r["side"] == "requested" else "OUT"
        table.add_row(f"{r['ref']}\n{r['case'] or ''}", _marks(r), f"{r['kind_title']} (Art. {r['article']})",
                      f"{direction} {r['requesting']} → {r['requested']}\n{r['state']}",
                      when(r["ack_due_at"], zone, sep="\n"))
    out.print(table)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "\n".join(f"• {v}" for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return "" if value is None else str(value)


@app.command("show")
def show(ref: str, reason: str = ReasonOption, as_json: bool = typer.Option(False, "--json"),
         node: str | None = NodeUrlOption, token: str | None = TokenOption) -> None:
    """One request: what is asked (each field with its article), clocks, timeline, and what you can do now."""
    why = _reason(reason)
    client = _client(node, token)
    r = client.call("GET", f"/api/v1/requests/{ref}", params={"reason": why})
    if as_json:
        print_json(r)
        return
    zone = client.zone()
    direction = "INCOMING request to us" if r["side"] == "requested" else "OUTGOING request from us"
    head = Text()
    head.append(f"{r['ref']}  ", style="bold")
    head.append_text(_marks(r))
    head.append(f"\n{r['kind_title']} (Art. {r['article']}) — {direction}\n")
    head.append(f"from {r['requesting']} to {r['requested']}  ·  state: ")
    head.append(r["state"].upper(), style="bold")
    head.append(f"  ·  version {r['version']}  ·  case {r['case'] or '-'}  ·  language {r['language']}")
    out.print(Panel(head, style=_PRIORITY_STYLE.get(r["priority"], "")))
    if r["confidential"] or r["do_not_notify"]:
        out.print(Panel("CONFIDENTIAL: keep the request's fact and substance confidential.\n" * r["confidential"]
                        + "DO NOT NOTIFY THE USER whose data are concerned." * r["do_not_notify"],
                        style="bold magenta"))
    fields = Table("field", "article", "value", title="What is asked", show_lines=True)
    for f in r["fields"]:
        fields.add_row(f["label"], f["article"], f.get("text") or _value(f["value"]) or "[dim](not given)[/]")
    out.print(fields)
    if r["clocks"]:
        clocks = Table("clock", "status", time_column("due"), "time", "note", title="Clocks")
        for c in r["clocks"]:
            style = "bold red" if c["status"] in ("overdue", "late", "lapsed") else \
                "bold yellow" if c["status"] == "warning" else ""
            clocks.add_row(c["label"], Text(c["status"].upper(), style=style), when(c["due"], zone, sep="\n"),
                           _left(c["remaining_seconds"]) or _took(c.get("elapsed_seconds")), c["note"])
        out.print(clocks)
    for title, key in (("Result", "result"), ("Refusal", "refusal")):
        if r.get(key):
            out.print(Panel("\n".join(f"{k}: {_value(v)}" for k, v in r[key].items()), title=title))
    if r.get("approval"):
        out.print(f"Approved by {r['approval']['name']} ({r['approval']['role']}) at "
                  f"{when(r['approval']['at'], zone)} (four eyes)")
    elif r.get("approval_required") and r["state"] == "draft":
        out.print(f"[bold]Needs a supervisor's approval before it is sent[/]: a supervisor of the desk other "
                  f"than its author runs `hanoinet request approve {r['ref']}`")
    timeline = Table(time_column("when"), "who", "what", "state", "notes", title="Timeline")
    for e in r["timeline"]:
        notes = e.get("reason") or ", ".join(f"{k}: {_value(v)}" for k, v in (e.get("data") or {}).items()
                                              if k not in ("fields", "approval"))
        if e.get("channel"):  # a duty alert: how and at which escalation level
            notes = f"{e['channel']}, level {e.get('level')}" + (f": {e['error']}" if e.get("error") else "")
        delivery = e.get("delivery")
        if delivery and delivery["status"] != "delivered":
            notes = f"[delivery {delivery['status']}: {delivery['error'] or 'waiting'}] " + notes
        what = e["what"] if e.get("applied", True) else f"{e['what']} (no effect)"
        who = f"{e.get('party', '')} {e.get('by') or e.get('to') or ''}".strip()
        timeline.add_row(when(e["at"], zone, precision="second", sep="\n"), who, what,
                         e.get("state", e.get("status", "")), notes)
    out.print(timeline)
    if r["allowed"]:
        out.print("You can now: " + ", ".join(f"[bold]{a}[/]" for a in r["allowed"])
                  + f"   (e.g. hanoinet request {_command(r['allowed'][0], r['ref'])})")


def _command(action: str, ref: str) -> str:
    """The command that takes ``action``: the API's action names are not all command names."""
    if action == "acknowledge":
        return f"ack {ref}"
    states = {value: key for key, value in _STATUS_ACTIONS.items()}
    if action in states:
        return f"status {ref} {states[action]}" + (" --result @result.json" if action != "start" else "")
    return f"{action.replace('_', '-')} {ref}"


@app.command("ack")
def ack(ref: str, note: str | None = typer.Option(None), version: int | None = VersionOption,
        node: str | None = NodeUrlOption, token: str | None = TokenOption) -> None:
    """Acknowledge an incoming request: a person has read it (stops the duty alert's escalation)."""
    _act(ref, "acknowledge", node, token, version, note=note)


@app.command("status")
def status(
    ref: str,
    new_state: str = typer.Argument(..., metavar="STATE", help="in_progress, partially_executed or executed"),
    result: str | None = typer.Option(None, help="the result as JSON, or @FILE (partially_executed, executed)"),
    note: str | None = typer.Option(None),
    version: int | None = VersionOption,
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Move an incoming request on: in progress, partially executed or executed (with its result)."""
    actions = _STATUS_ACTIONS
    if new_state not in actions:
        raise ValidationError(f"{new_state!r} is not a state you can set here",
                              hint=f"use one of {', '.join(actions)}; refuse with `hanoinet request refuse`")
    if new_state != "in_progress" and result is None:
        raise ValidationError(f"{new_state} needs --result", hint="give the result as JSON or @FILE.json")
    _act(ref, actions[new_state], node, token, version, note=note,
         result=_load_json(result, "--result") if result else None)


@app.command("clarify")
def clarify(ref: str, question: str = typer.Option(..., help="what you need to know"),
            version: int | None = VersionOption, node: str | None = NodeUrlOption,
            token: str | None = TokenOption) -> None:
    """Ask the requesting State a question before going on."""
    _act(ref, "clarify", node, token, version, question=question)


@app.command("answer")
def answer(ref: str, text: str = typer.Option(..., "--answer", help="the answer"),
           version: int | None = VersionOption, node: str | None = NodeUrlOption,
           token: str | None = TokenOption) -> None:
    """Answer the requested State's question."""
    _act(ref, "answer", node, token, version, answer=text)


@app.command("refuse")
def refuse(ref: str, ground: str = typer.Option(..., help="ground code; `hanoinet request grounds` lists them"),
           reasons: str = typer.Option(..., help="the reasons (the Convention requires them)"),
           version: int | None = VersionOption, node: str | None = NodeUrlOption,
           token: str | None = TokenOption) -> None:
    """Refuse an incoming request, citing a ground and giving reasons."""
    _act(ref, "refuse", node, token, version, ground=ground, reasons=reasons)


@app.command("withdraw")
def withdraw(ref: str, reason: str = typer.Option(..., help="why it is no longer needed"),
             version: int | None = VersionOption, node: str | None = NodeUrlOption,
             token: str | None = TokenOption) -> None:
    """Withdraw one of our requests."""
    _act(ref, "withdraw", node, token, version, reason=reason)


@app.command("extend")
def extend(ref: str, days: int = typer.Option(60, help="days more"), reason: str = typer.Option(...),
           version: int | None = VersionOption, node: str | None = NodeUrlOption,
           token: str | None = TokenOption) -> None:
    """Ask to keep preserved data longer (Art. 42)."""
    _act(ref, "extend", node, token, version, days=days, reason=reason)


@app.command("follow-up")
def follow_up(ref: str, mla_ref: str = typer.Option(..., help="reference of the MLA request sent"),
              version: int | None = VersionOption, node: str | None = NodeUrlOption,
              token: str | None = TokenOption) -> None:
    """Tell the requested State the MLA request has been sent: the data stay preserved until it is decided."""
    _act(ref, "follow_up", node, token, version, mla_ref=mla_ref)


@app.command("release")
def release(ref: str, reason: str = typer.Option(..., help="why the preserved data are no longer needed"),
            version: int | None = VersionOption, node: str | None = NodeUrlOption,
            token: str | None = TokenOption) -> None:
    """Tell the requested State the preserved data are no longer needed: preservation ends now (Art. 42)."""
    _act(ref, "release", node, token, version, reason=reason)


@app.command("notice")
def notice(ref: str,
           kind: str = typer.Option(..., "--notice", help="will_not_secure or threatens_confidentiality"),
           text: str = typer.Option(..., help="what the requesting State should know"),
           version: int | None = VersionOption, node: str | None = NodeUrlOption,
           token: str | None = TokenOption) -> None:
    """Tell the requesting State at once that preservation will not secure the data or would threaten
    confidentiality (Art. 42)."""
    _act(ref, "notice", node, token, version, notice=kind, text=text)


@app.command("consult")
def consult(ref: str,
            considering: str = typer.Option(..., help="refusal or postponement: what you consider (Art. 40)"),
            reasons: str = typer.Option(..., help="why you consider it, so the requesting State can answer"),
            reply_by: str = typer.Option(..., "--reply-by",
                                         help="date and time with offset by which it may reply, e.g. "
                                              "2027-01-15T17:00:00+01:00"),
            ground: str | None = typer.Option(None, help="refusal: the ground's code (`hanoinet request grounds`)"),
            version: int | None = VersionOption, node: str | None = NodeUrlOption,
            token: str | None = TokenOption) -> None:
    """Consult the requesting State before refusing or postponing a request for mutual legal assistance."""
    _act(ref, "consult", node, token, version, considering=considering, ground=ground, reasons=reasons,
         reply_by=reply_by)


@app.command("reply")
def reply(ref: str, text: str = typer.Option(..., "--reply", help="your reply to the consultation"),
          version: int | None = VersionOption, node: str | None = NodeUrlOption,
          token: str | None = TokenOption) -> None:
    """Reply to the requested State's consultation on a refusal or a postponement it considers."""
    _act(ref, "reply", node, token, version, reply=text)


@app.command("postpone")
def postpone(ref: str, until: str = typer.Option(..., help="date and time with offset until which execution "
                                                            "is postponed, e.g. 2027-02-01T09:00:00+01:00"),
             reasons: str = typer.Option(..., help="why execution is postponed"),
             version: int | None = VersionOption, node: str | None = NodeUrlOption,
             token: str | None = TokenOption) -> None:
    """Postpone execution until a date, after consulting the requesting State (Art. 40)."""
    _act(ref, "postpone", node, token, version, until=until, reasons=reasons)


@app.command("resume")
def resume(ref: str, note: str | None = typer.Option(None), version: int | None = VersionOption,
           node: str | None = NodeUrlOption, token: str | None = TokenOption) -> None:
    """Resume a postponed execution before its date (the node resumes it by itself at the date)."""
    _act(ref, "resume", node, token, version, note=note)


@app.command("approve")
def approve(ref: str, version: int | None = VersionOption, node: str | None = NodeUrlOption,
            token: str | None = TokenOption) -> None:
    """Approve an outgoing draft as it stands (four eyes: a supervisor of its desk, not its author)."""
    body = {"version": version} if version is not None else {}
    r = _client(node, token).call("POST", f"/api/v1/requests/{ref}/approve", json=body)
    out.print(f"{r['ref']} approved by {r['approval']['name']} (version {r['version']})\n"
              f"send it with `hanoinet request send {r['ref']}`")


@app.command("grounds")
def grounds(node: str | None = NodeUrlOption, token: str | None = TokenOption) -> None:
    """Grounds for refusal, with their articles."""
    catalogue = _client(node, token).call("GET", "/api/v1/convention")
    table = Table(Column("code", overflow="fold"), "article", "ground", Column("applies to", overflow="fold"))
    for code, g in catalogue["grounds"].items():
        table.add_row(code, _article(g), g["title"], ", ".join(g.get("kinds", [])) or "-")
    out.print(table)


def _article(item: dict[str, Any]) -> str:
    """An article reference as the catalogue gives it, with (?) where it is uncertain."""
    return f"{item['article']} (?)" if item.get("uncertain") else str(item["article"])


def _what_to_write(f: dict[str, Any]) -> str:
    parts = [f"{f['label']}: {f['help']}"]
    if f.get("choices"):
        parts.append(f"{'Each item one' if f['type'] == 'list' else 'One'} of: {', '.join(f['choices'])}.")
    if f.get("format"):
        parts.append(f"Must be {f['format']['description']}.")
    if f.get("before"):
        parts.append(f"Before {f['before']}.")
    if f.get("needs"):
        parts.append(f"Only with {f['needs']}.")
    return " ".join(parts)


@app.command("kinds")
def kinds(kind: str | None = typer.Argument(None, help="a kind of request, to list its fields"),
          node: str | None = NodeUrlOption, token: str | None = TokenOption) -> None:
    """Kinds of request with their articles and desks; with KIND, the fields to write and the article of each."""
    catalogue = _client(node, token).call("GET", "/api/v1/convention")
    if kind is None:
        table = Table(Column("kind", no_wrap=True), "article", Column("title", overflow="fold"), "desks")
        for name, k in catalogue["kinds"].items():
            table.add_row(name, _article(k), k["title"], ", ".join(k.get("desks", [])) or "any")
        out.print(table)
        out.print("[dim]`hanoinet request kinds KIND` lists the fields of a kind. (?): uncertain reference.[/]")
        return
    spec = catalogue["kinds"].get(kind)
    if spec is None:
        raise ValidationError(f"unknown kind {kind!r}", hint=f"kinds: {', '.join(catalogue['kinds'])}")
    out.print(f"[bold]{spec['title']}[/] (Art. {_article(spec)}): {spec['summary']}")
    out.print(f"desks: {', '.join(spec.get('desks', [])) or 'any'}  ·  priorities: {', '.join(spec['priorities'])} "
              f"(default {spec['default_priority']})")
    for title, specs in (("Request fields", spec["fields"]), ("Result fields", spec["results"])):
        table = Table(Column("field", no_wrap=True), "article", Column("required", max_width=8), "what to write",
                      title=title)
        for f in specs:
            table.add_row(f["name"], _article(f), "yes" if f["required"] else "no", _what_to_write(f))
        out.print(table)
