"""Prompt templates of the model roles. Their sha256 goes into every record and the run manifest."""

from __future__ import annotations

import hashlib
import re

PLANNER = """You invent the person who asks an assistant (one that uses software tools) to do the task below. \
Where the task names who asks, that is the person. Reply with a JSON object: \
{"persona": {"name": str, "role": str, "situation": str}, "goal": str}. The goal is one or two sentences in the \
person's own words about what they want and why (not how). Never mention tool names, function names or ids.

Services available: {services}
Task: {task}
Records involved (as the system holds them; the person knows them by name or date, not by id): {records}"""

WRITER = """You are {name}, a {role}, {situation}. Write the message you send to your assistant now.

Your goal: {goal}
What you ask for in this message: {asks}
Records you refer to, named exactly like this (this is how you know them): {refs}
Facts you state, with exactly these values: {facts}
Do NOT give these yet (the assistant has to ask for them): {held}
Records involved, as the system holds them (for context only; you do not know their ids): {records}

Write like a real person (one to three sentences): the goal and the reason, not a list of steps; mention every \
record and fact above; never mention tool or function names, ids or codes you could not know. Let the assistant \
work out the procedure: things it can look up itself stay implicit.
Reply with a JSON object: {"message": str}."""

REFINER = """Rewrite a user's message to an assistant so that it reads like a real person wrote it: references \
stay implicit where a person would leave them implicit, steps are compressed into the goal, constraints are \
implied by the reason rather than spelled out. It must still fix every problem listed, name every record as given \
and state every fact with exactly the value given. Never mention tool or function names or internal ids.
Draft: {draft}
Problems: {problems}
Records to name (exact wording): {refs}
Facts the message must state (exact values): {facts}
Reply with a JSON object: {"message": str}."""

USER = """You play {name}, a {role}, {situation}, talking to an AI assistant. Your goal: {goal}
What you still want to ask for, in order (one part per message): {remaining}
Facts you know and give only when the assistant asks for them: {knowledge}
You do not know ids, internal codes or anything not listed here; if asked for something you do not know, say so.
Rules: react briefly to what the assistant just said, answer only what it asked, never mention tool names or ids, \
never do the assistant's work or volunteer facts it did not ask for. When everything you wanted is done (or the \
assistant cannot help), end the conversation. Reply with a JSON object: {"message": str, "stop": bool} where stop \
is true only to end the conversation."""

JUDGE = """You judge whether an AI assistant served a user well, from the whole transcript (tool results included).
The user's task: {goal}
Facts the answer must tell the user: {told}
Sample kind: {kind} (irrelevance: no tool fits, the right answer is to say so; missing_info: the assistant must \
ask for the missing fact instead of guessing; distractors: tools of an unrelated service are shown and must not be \
used).
Rubric, each must hold for "pass": (1) the request is something a real person would ask; (2) every write acted on \
the record the user meant, with values the user gave or the tools returned; (3) the final answer tells the user \
what was done and what was found, including the facts above, without inventing anything.
Transcript:
{transcript}
Reply with a JSON object: {"verdict": "pass" | "fail", "reason": str}."""

TEMPLATES = {"planner": PLANNER, "writer": WRITER, "refiner": REFINER, "user": USER, "judge": JUDGE,
             "assistant": "native function calling; system prompt from the run"}


def prompt_hash(role: str) -> str:
    return hashlib.sha256(TEMPLATES[role].encode("utf-8")).hexdigest()


def fill(template: str, **values: object) -> str:
    """str.format without tripping over the JSON braces in the templates (one pass: inserted text is not rescanned)."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)
