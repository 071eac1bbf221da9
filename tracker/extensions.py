"""Flask extensions, created unbound so every module can import them."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
# Ids are 32-bit integers on every backend: larger numbers name nothing (and would overflow
# PostgreSQL's INTEGER if looked up).
MAX_ID = 2**31 - 1
migrate = Migrate(render_as_batch=True)
login_manager = LoginManager()
babel = Babel()
csrf = CSRFProtect()
# Limits are declared where they apply (login, the API); storage from RATELIMIT_STORAGE_URI
# (memory:// by default, per process; redis://… or memcached://… to share across workers).
limiter = Limiter(key_func=get_remote_address)


def insert(table, dialect_name: str | None = None):
    """An INSERT with ON CONFLICT (DO NOTHING / DO UPDATE) for the database in use: PostgreSQL's or
    SQLite's (the session's unless `dialect_name` is given). Decided by the database in one statement,
    where a SELECT-then-INSERT races."""
    name = dialect_name or db.session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(table)
