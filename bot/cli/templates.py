"""`tokenbot templates add --id ID --name NAME --use-case U --text-file F [--author EMAIL]
[--description D] | retire ID | list`: the prompt library from the admin's shell.

`add` is an admin's shortcut past the approval step: the text is checked exactly as a proposal
in chat is (the sandbox, the sensitive-data scanner) and stored as an approved version, the
first of a new template or the next of an existing one (the old versions stay)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.bootstrap import Services
from bot.core import prompt_text
from scoring import template_library as library
from storage.models import Person, PromptTemplate


def register(sub) -> None:  # noqa: ANN001
    templates = sub.add_parser("templates", help="the prompt library").add_subparsers(
        dest="templates_command", required=True
    )
    add = templates.add_parser(
        "add", help="add an approved template, or a new approved version of one"
    )
    add.add_argument("--id", required=True, dest="template_id", help="e.g. seo-brief-v3")
    add.add_argument("--name", required=True, help="e.g. 'SEO brief v3'")
    add.add_argument("--use-case", required=True, help="a use case of the policy")
    add.add_argument(
        "--text-file", required=True, help="the template's text, with {{ variables }} (UTF-8)"
    )
    add.add_argument("--description", default="", help="what the template is for")
    add.add_argument("--author", help="email of the author, credited when others reuse it")
    add.set_defaults(run=add_template)
    retire = templates.add_parser("retire", help="retire a template (chat and the API refuse it)")
    retire.add_argument("template_id")
    retire.set_defaults(run=retire_template)
    show = templates.add_parser("list", help="list the templates and their states")
    show.set_defaults(run=list_templates)


def add_template(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed
    from budgets.directory import find_person

    try:
        text = Path(args.text_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandFailed(f"cannot read {args.text_file}: {exc}") from exc
    try:
        checked = prompt_text.check(text)
    except prompt_text.PromptTextInvalid as exc:
        raise CommandFailed(f"{args.text_file}: {exc.message}; nothing was stored") from exc
    draft = library.Draft(
        template_id=args.template_id.strip(),
        name=args.name.strip(),
        use_case=args.use_case.strip(),
        description=args.description.strip(),
        text=checked.text,
        variables=checked.variables,
    )
    with services.db.unit_of_work() as uow:
        author = None
        if args.author:
            author = find_person(uow.session, args.author)
            if author is None:
                raise CommandFailed(f"no one with the email {args.author} is in the directory")
        try:
            proposed = library.propose(
                uow.session, services.policy, draft, author, services.clock(), approved_by="cli"
            )
        except library.TemplateRefused as exc:
            raise CommandFailed(f"{exc.message}; nothing was stored") from exc
        uow.commit()
    template, version = proposed.template, proposed.version
    variables = ", ".join(version.variables) or "none"
    print(
        f"{'added' if proposed.new_template else 'added version ' + str(version.version) + ' of'}"
        f" template {template.template_id} ({template.name}) for {template.use_case}, approved;"
        f" variables: {variables}"
    )
    return 0


def retire_template(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    with services.db.unit_of_work() as uow:
        try:
            view = library.retire(
                uow.session, services.policy, args.template_id, None, services.clock()
            )
        except library.TemplateRefused as exc:
            raise CommandFailed(exc.message) from exc
        uow.commit()
    print(f"retired template {view.template_id} ({view.name})")
    return 0


def list_templates(args, services: Services) -> int:  # noqa: ANN001
    with services.db.read() as session:
        rows = session.execute(
            select(
                PromptTemplate.id,
                PromptTemplate.name,
                PromptTemplate.use_case,
                PromptTemplate.state,
                PromptTemplate.current_version,
                Person.email,
            )
            .outerjoin(Person, Person.id == PromptTemplate.author_id)
            .order_by(PromptTemplate.use_case, PromptTemplate.id)
        ).all()
    if not rows:
        print("no templates yet; add one with `tokenbot templates add` or propose one in chat")
    for template_id, name, use_case, state, version, author in rows:
        shown = f"{state} v{version}" if version else state
        print(f"{use_case}\t{template_id}\t{name}\t{author or '-'}\t{shown}")
    return 0
