"""Prompt templates of the model roles. Their sha256 goes into every record and the run manifest."""

from __future__ import annotations

import hashlib
import re

PLANNER = """You invent a realistic person who would need the task below done by an assistant that can use software \
tools. Reply with a JSON object: {"persona": {"name": str, "role": str, "situation": str}, "goal": str}. The goal \
is one or two sentences in the person's own words about what they want to achieve (not how). Never mention tool \
names, function names or internal ids.

Services available: {services}
Task (template wording): {task}"""

WRITER = """You are {name}, a {role}, {situation}. Write the first message you send to your assistant to get this \
done: {task}

Rules: write naturally, like a real person (one to three sentences); state the goal, not a list of steps; include \
every fact listed under "facts you state" exactly as given (names, titles, dates, numbers); never mention \
tool or function names, never mention ids or codes you could not know; leave out the facts under "hold back".
Facts you state: {facts}
Hold back: {held}
Reply with a JSON object: {"message": str}."""

REFINER = """A draft first message from a user to an assistant has problems. Rewrite it so that every problem is \
fixed while the request stays the same and still sounds natural. Never mention tool or function names or internal \
ids; state the goal, not a list of steps; keep every required fact.
Draft: {draft}
Problems: {problems}
Facts the message must state: {facts}
Reply with a JSON object: {"message": str}."""

USER = """You play {name}, a {role}, {situation}, talking to an AI assistant. Your goal: {goal}
What you still want to ask for, in order: {remaining}
Facts you know and give only when the assistant asks for them: {knowledge}
Rules: answer only what the assistant asked, briefly; never mention tool names or ids; do not do the assistant's \
work. When everything you wanted is done (or the assistant cannot help), end the conversation. Reply with a JSON \
object: {"message": str, "stop": bool} where stop is true only to end the conversation."""

JUDGE = """You judge whether an AI assistant served a user well. The user's goal: {goal}
Sample kind: {kind} (irrelevance: no tool fits, the right answer is to say so; missing_info: the assistant must \
ask for the missing fact instead of guessing).
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
