"""languages of sources and chunks, language-aware full text, per-organization embedding model

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 01:00:00

PostgreSQL: one text-search configuration per Snowball language (`companin_<name>`: the
built-in one with `unaccent` in front of the stemmer) and an IMMUTABLE function mapping a
chunk's language code to it, so the GIN index and the queries use the same expression.
SQLite: the FTS5 table now holds analyzed text (stemmed in the chunk's language, accents
folded), refilled here from the chunk rows.

Organizations that already have chunks keep the model that embedded them
(`embedding_model`), so their indexes keep serving until a re-embed moves them.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# Kept literal here (not imported) so this revision means the same thing forever.
_PG_LANGS = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "da": "danish",
    "nl": "dutch", "en": "english", "fi": "finnish", "fr": "french", "de": "german",
    "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian",
    "nb": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sr": "serbian", "es": "spanish", "sv": "swedish", "tr": "turkish", "ta": "tamil",
    "yi": "yiddish",
}
_TOKEN_TYPES = "asciiword, word, numword, asciihword, hword, numhword, hword_asciipart, " \
               "hword_part, hword_numpart"


def upgrade():
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('languages', sa.JSON().with_variant(
            postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('embedding_model', sa.String(length=100), nullable=True))
    with op.batch_alter_table('knowledge_sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=12), nullable=True))
    with op.batch_alter_table('knowledge_chunks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=12), nullable=True))

    op.execute("UPDATE organizations SET embedding_model = ("
               "SELECT MIN(c.embedding_model) FROM knowledge_chunks c "
               "WHERE c.org_id = organizations.id)")

    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        _upgrade_postgresql()
    elif bind.dialect.name == 'sqlite':
        _refill_sqlite_fts(bind)


def _upgrade_postgresql():
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS companin_simple")
    op.execute("CREATE TEXT SEARCH CONFIGURATION companin_simple (COPY = simple)")
    op.execute(f"ALTER TEXT SEARCH CONFIGURATION companin_simple ALTER MAPPING FOR "
               f"{_TOKEN_TYPES} WITH unaccent, simple")
    cases = []
    for code, name in sorted(_PG_LANGS.items()):
        if code != "nb":
            op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS companin_{name}")
            op.execute(f"CREATE TEXT SEARCH CONFIGURATION companin_{name} (COPY = {name})")
            op.execute(f"ALTER TEXT SEARCH CONFIGURATION companin_{name} ALTER MAPPING FOR "
                       f"{_TOKEN_TYPES} WITH unaccent, {name}_stem")
        cases.append(f"WHEN '{code}' THEN 'companin_{name}'::regconfig")
    op.execute(
        "CREATE OR REPLACE FUNCTION companin_ts_config(lang text) RETURNS regconfig "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT CASE lang "
        + " ".join(cases) + " ELSE 'companin_simple'::regconfig END $$")
    op.execute("DROP INDEX IF EXISTS ix_knowledge_chunks_text_fts")
    op.execute("CREATE INDEX ix_knowledge_chunks_text_fts ON knowledge_chunks USING gin "
               "(to_tsvector(companin_ts_config(language), text))")


def _refill_sqlite_fts(bind):
    from services.knowledge.language import analyze, detect

    sources = bind.execute(sa.text("SELECT id FROM knowledge_sources")).scalars().all()
    for source_id in sources:
        rows = bind.execute(sa.text(
            "SELECT id, org_id, text FROM knowledge_chunks WHERE source_id = :s "
            "ORDER BY position"), {"s": source_id}).all()
        lang = detect(" ".join(r[2] for r in rows)[:5000]) or "und"
        bind.execute(sa.text("UPDATE knowledge_sources SET language = :l WHERE id = :s"),
                     {"l": lang, "s": source_id})
        bind.execute(sa.text("UPDATE knowledge_chunks SET language = :l WHERE source_id = :s"),
                     {"l": lang, "s": source_id})
        bind.execute(sa.text("DELETE FROM knowledge_chunks_fts WHERE source_id = :s"),
                     {"s": source_id})
        for chunk_id, org_id, text in rows:
            bind.execute(sa.text(
                "INSERT INTO knowledge_chunks_fts (text, chunk_id, org_id, source_id) "
                "VALUES (:t, :c, :o, :s)"),
                {"t": " ".join(analyze(text, lang)), "c": chunk_id, "o": org_id,
                 "s": source_id})


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("DROP INDEX IF EXISTS ix_knowledge_chunks_text_fts")
        op.execute("CREATE INDEX ix_knowledge_chunks_text_fts ON knowledge_chunks "
                   "USING gin (to_tsvector('simple', text))")
        op.execute("DROP FUNCTION IF EXISTS companin_ts_config(text)")
        for name in sorted(set(_PG_LANGS.values()) | {"simple"}):
            op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS companin_{name}")
    with op.batch_alter_table('knowledge_chunks', schema=None) as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('knowledge_sources', schema=None) as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('embedding_model')
        batch_op.drop_column('languages')
