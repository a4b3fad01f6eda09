"""The console adapter: chat with tokenbot on stdin/stdout.

Reads one command per line (works without a TTY, so it can be scripted), prints each reply as
text, and exits at the end of input. Buttons appear as numbered choices; `press N` presses one.
A reply that asks for input (a `Form`) is filled in line by line, one field per line, and
submitted; Enter keeps the value shown in brackets.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot.core.dispatch import Dispatcher
from bot.core.messages import Button, Form, IncomingAction, IncomingMessage, Notice, Reply
from storage.models import Person

PROMPT = "tokens> "


class ConsoleChat:
    def __init__(
        self, dispatcher: Dispatcher, email: str, out: TextIO, stdin: TextIO | None = None
    ):
        self.dispatcher = dispatcher
        self.email = email
        self.out = out
        self.stdin = stdin  # where form fields are read from; None shows forms without asking
        self.buttons: list[Button] = []

    def show(self, reply: Reply) -> None:
        renderer = self.dispatcher.services.renderer
        self.out.write(renderer.text(reply) + "\n")
        self.buttons = list(reply.buttons)
        for number, button in enumerate(self.buttons, start=1):
            self.out.write(f"  [{number}] {button.label}\n")
        for notice in reply.notices:
            self.out.write(f"(tokenbot also sent a message to {self.recipient(notice)})\n")
        self.out.flush()
        if reply.form is not None and self.stdin is not None:
            self.fill(reply.form)

    def recipient(self, notice: Notice) -> str:
        """Who a notice went to, as a person reads it: the channel, or the person's name."""
        if notice.to_channel or notice.to_person_id is None:
            return notice.to_channel or "nobody"
        with self.dispatcher.services.db.read() as session:
            person = session.get(Person, notice.to_person_id)
            return person.name if person is not None else f"person #{notice.to_person_id}"

    def fill(self, form: Form) -> None:
        """Ask for each field on its own line, then submit; end of input submits nothing."""
        assert self.stdin is not None
        self.out.write(f"{form.title}\n")
        values: dict[str, str] = {}
        for field in form.fields:
            hint = f" [{field.initial}]" if field.initial else ""
            optional = " (optional)" if field.optional else ""
            self.out.write(f"  {field.label}{optional}{hint}: ")
            self.out.flush()
            line = self.stdin.readline()
            if not line:
                self.out.write("\n")
                return
            values[field.name] = line.strip() or field.initial
        self.show(
            self.dispatcher.handle_action(
                IncomingAction("console", self.email, form.submit_action_id, form.value, values)
            )
        )

    def handle(self, line: str) -> None:
        words = line.split()
        if len(words) == 2 and words[0].lower() == "press":
            self.press(words[1])
            return
        self.show(self.dispatcher.handle_message(IncomingMessage("console", self.email, line)))

    def press(self, number: str) -> None:
        if not number.isdigit() or not 1 <= int(number) <= len(self.buttons):
            # Written, not shown: the last reply's buttons stay pressable.
            refusal = Reply("no_such_button", {"number": number, "count": len(self.buttons)})
            self.out.write(self.dispatcher.services.renderer.text(refusal) + "\n")
            self.out.flush()
            return
        button = self.buttons[int(number) - 1]
        self.show(
            self.dispatcher.handle_action(
                IncomingAction("console", self.email, button.action_id, button.value)
            )
        )


def run_console(
    dispatcher: Dispatcher, email: str, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout
) -> int:
    """Returns an exit status: 0, or 2 when the email is not in the directory."""
    if dispatcher.resolve(IncomingMessage("console", email, "")) is None:
        sys.stderr.write(f"error: no active person with the email {email} in the directory\n")
        return 2
    chat = ConsoleChat(dispatcher, email, out, stdin)
    interactive = stdin.isatty()
    if interactive:
        out.write(f"Chatting with tokenbot as {email}. Type `help`, or Ctrl-D to leave.\n")
    while True:
        if interactive:
            out.write(PROMPT)
            out.flush()
        line = stdin.readline()
        if not line:
            break
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line in ("quit", "exit"):
            break
        chat.handle(line)
    return 0
