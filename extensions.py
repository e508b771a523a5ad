"""Unbound extensions, bound to the app by init_app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from celery import Celery, Task
from flask import Flask, current_app, has_app_context
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_session import Session as ServerSessions
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import DateTime, MetaData, String, event, inspect
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Give back aware UTC datetimes."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Who did something, in audit columns: "operator:" or "buyer:" and an e-mail address of up to 254.
ACTOR_LENGTH = 320


class ValueTooLong(ValueError):
    """A string longer than its column allows, caught before the database (SQLite would keep it)."""

    def __init__(self, table: str, column: str, limit: int, length: int) -> None:
        super().__init__(f"{table}.{column} holds at most {limit} characters, not {length}")
        self.table, self.column, self.limit, self.length = table, column, limit, length


def _limited_strings(mapper: Any) -> list[tuple[str, str, int]]:
    """(attribute, column, length) of a mapper's bounded string columns, worked out once."""
    cached = _LIMITS.get(mapper)
    if cached is None:
        cached = [
            (attr.key, attr.columns[0].name, attr.columns[0].type.length)
            for attr in mapper.column_attrs
            if isinstance(attr.columns[0].type, String) and attr.columns[0].type.length
        ]
        _LIMITS[mapper] = cached
    return cached


_LIMITS: dict[Any, list[tuple[str, str, int]]] = {}


@event.listens_for(Session, "before_flush")
def _check_string_lengths(session: Session, flush_context: Any, instances: Any) -> None:
    """Refuse over-long strings on every backend, as PostgreSQL does, naming the column."""
    for obj in (*session.new, *session.dirty):
        state = inspect(obj)
        limits = _limited_strings(state.mapper)
        if not limits:
            continue
        table = getattr(state.mapper.local_table, "name", "?")
        values = state.dict
        for key, column, limit in limits:
            value = values.get(key)
            if not isinstance(value, str) or len(value) <= limit:
                continue
            if state.key is not None and not state.attrs[key].history.added:
                continue  # loaded and unchanged
            raise ValueTooLong(table, column, limit, len(value))


def insert_once(model: Any, **values: Any) -> bool:
    """INSERT a row unless one with the same unique key exists; True if this call inserted it.

    One statement (`ON CONFLICT DO NOTHING`, on PostgreSQL and SQLite alike) in place of a
    savepoint around an INSERT: the caller's transaction is never broken by the duplicate.
    Strings are checked against their columns first, as a flush would; Core applies the columns'
    Python-side defaults.
    """
    from sqlalchemy.dialects import postgresql, sqlite

    table = model.__table__
    for key, column, limit in _limited_strings(inspect(model)):
        value = values.get(key)
        if isinstance(value, str) and len(value) > limit:
            raise ValueTooLong(table.name, column, limit, len(value))
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING says whether a row went in (the driver's rowcount is not to be trusted here).
    key = next(iter(table.primary_key.columns))
    stmt = insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return db.session.execute(stmt).first() is not None


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
celery = Celery("comptoir")
server_sessions = ServerSessions()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite as a fair stand-in for PostgreSQL: enforced foreign keys, readers beside a writer."""
    if type(dbapi_connection).__module__ == "sqlite3":
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()



@event.listens_for(Engine, "savepoint")
def _sqlite_begin_before_savepoint(connection: Any, name: str) -> None:
    """Python's sqlite3 begins a transaction before the first write, never before a SAVEPOINT:
    a savepoint opened first would be the outermost, and its RELEASE would commit the caller's
    work. Begin first, so that savepoints nest inside the caller's transaction as on PostgreSQL.
    (Reads before any write still see each commit, like PostgreSQL's READ COMMITTED.)"""
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            raw.execute("BEGIN")


def init_app(app: Flask) -> None:
    """Bind every extension to the app."""
    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(Path(app.root_path) / "migrations"),
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
    )
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    _init_sessions(app)
    _init_celery(app)


SESSION_STORE_LIFETIME = timedelta(days=14)  # an idle cart is forgotten after this


def _init_sessions(app: Flask) -> None:
    """Keep sessions on the server: the cookie holds only a random id, so ending one is final."""
    store = app.config["SESSION_STORE"]
    if "PERMANENT_SESSION_LIFETIME" not in app.config.get("EXPLICIT_SETTINGS", ()):
        app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_STORE_LIFETIME
    app.config["SESSION_PERMANENT"] = True
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    app.config["SESSION_KEY_PREFIX"] = "comptoir:session:"
    app.config["SESSION_SERIALIZATION_FORMAT"] = "json"
    if store == "redis":
        from redis import Redis

        url = app.config.get("SESSION_REDIS_URL")
        if not url:
            raise RuntimeError("COMPTOIR_SESSION_STORE=redis needs COMPTOIR_SESSION_REDIS_URL")
        app.config["SESSION_TYPE"] = "redis"
        app.config["SESSION_REDIS"] = Redis.from_url(url, socket_timeout=5)
    elif store == "filesystem":
        from cachelib.file import FileSystemCache

        app.config["SESSION_TYPE"] = "cachelib"
        app.config["SESSION_CACHELIB"] = FileSystemCache(
            app.config["SESSION_DIR"], threshold=100_000, mode=0o600
        )
    else:
        raise RuntimeError(f"COMPTOIR_SESSION_STORE must be filesystem or redis, not {store!r}")
    server_sessions.init_app(app)


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our column types as plain SQLAlchemy types: migrations import nothing of ours."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def _init_celery(app: Flask) -> None:
    """Configure Celery from the Flask config; every task runs inside an app context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            # In-process (eager) jobs run for the app that queued them, in a fresh context of
            # their own; a worker has no current app and uses the one it was started with.
            flask_app = current_app._get_current_object() if has_app_context() else celery.flask_app  # type: ignore[attr-defined]
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    eager = app.config["TASKS_EAGER"] in (True, "1", "true", "True")
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        task_default_queue=app.config.get("CELERY_QUEUE") or "celery",
        task_always_eager=eager,
        task_eager_propagates=False,
        task_store_eager_result=False,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
    )
    celery.Task = FlaskTask
    celery.flask_app = app  # type: ignore[attr-defined]
    celery.set_default()
    app.extensions["celery"] = celery
