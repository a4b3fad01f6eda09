"""`tokenbot templates add --id ID --name NAME --use-case U [--author EMAIL] | list`: the
registry of approved prompt templates (usage and outcomes name them by `template_id`)."""

from __future__ import annotations

from sqlalchemy import select

from bot.bootstrap import bootstrap
from scoring.templates import TemplateRejected, register_template
from storage.models import Person, PromptTemplate


def register(sub) -> None:  # noqa: ANN001
    templates = sub.add_parser("templates", help="approved prompt templates").add_subparsers(
        dest="templates_command", required=True
    )
    add = templates.add_parser(
        "add", help="register (or update) an approved template; its id is what events carry"
    )
    add.add_argument("--id", required=True, dest="template_id", help="e.g. seo-brief-v3")
    add.add_argument("--name", required=True, help="e.g. 'SEO brief v3'")
    add.add_argument("--use-case", required=True, help="a use case of the policy")
    add.add_argument("--author", help="email of the author, credited when others reuse it")
    add.set_defaults(run=add_template)
    show = templates.add_parser("list", help="list the registered templates")
    show.set_defaults(run=list_templates)


def add_template(args) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    services = bootstrap()
    with services.db.unit_of_work() as uow:
        try:
            template, created = register_template(
                uow.session,
                services.policy,
                args.template_id,
                args.name,
                args.use_case,
                services.clock(),
                author_email=args.author,
            )
        except TemplateRejected as exc:
            raise CommandFailed(str(exc)) from exc
        uow.commit()
    print(
        f"{'registered' if created else 'updated'} template {template.id} ({template.name}) for {template.use_case}"
    )
    return 0


def list_templates(args) -> int:  # noqa: ANN001
    services = bootstrap()
    with services.db.read() as session:
        rows = session.execute(
            select(
                PromptTemplate.id,
                PromptTemplate.name,
                PromptTemplate.use_case,
                PromptTemplate.approved,
                Person.email,
            )
            .outerjoin(Person, Person.id == PromptTemplate.author_id)
            .order_by(PromptTemplate.use_case, PromptTemplate.id)
        ).all()
    if not rows:
        print("no templates registered; add one with `tokenbot templates add`")
    for template_id, name, use_case, approved, author in rows:
        state = "" if approved else " (not approved)"
        print(f"{use_case}\t{template_id}\t{name}\t{author or '-'}{state}")
    return 0
