"""The alembic chain stays linear: engineers add migrations concurrently, and two landing off the
same parent leave two heads, which makes `payhooks db upgrade` (and every database test) fail."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from kernel.db.migrate import alembic_config


def test_the_migrations_have_one_head_and_no_branch() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("postgresql://unused/unused"))
    assert len(scripts.get_heads()) == 1, scripts.get_heads()
    children: dict[str | None, list[str]] = {}
    for revision in scripts.walk_revisions():
        parent = revision.down_revision
        assert not isinstance(parent, tuple | list), f"{revision.revision} merges {parent}"
        children.setdefault(parent, []).append(revision.revision)
    assert all(len(kids) == 1 for kids in children.values()), children
