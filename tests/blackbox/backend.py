"""The storage backend the black-box suites run on: the one place that knows.

By default every test gets SQLite files in its temporary directory. When
CLOSELOOP_TEST_PG holds the admin URL of a PostgreSQL cluster (such as the
one scripts/pg-cluster.sh starts, which `make blackbox-pg` does), every
database a test asks for is instead a new, empty PostgreSQL database of that
cluster (CREATE DATABASE with a unique name), passed to the commands as its
postgres:// URL. A test's databases are dropped after it (module-scoped ones
at the end of the session).

Tests make databases with new_db() and read them with query_db(), both of
which work on either backend; tests that are about SQLite files as such are
marked @pytest.mark.sqlite_only("reason") and skipped on PostgreSQL.
"""

import itertools
import os
import shutil
import sqlite3
import subprocess
import urllib.parse
import uuid
from pathlib import Path

import pytest

PG_ADMIN = os.environ.get("CLOSELOOP_TEST_PG", "").strip() or None
PG = PG_ADMIN is not None
NAME = "postgresql" if PG else "sqlite"

PG_BIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
PG_TIMEOUT = 10  # seconds: connecting, and every statement of the harness

_counter = itertools.count(1)
_created = []  # names of the databases new_db made, in order, not yet dropped


def is_pg_url(db):
    return str(db).startswith(("postgres://", "postgresql://"))


def pg_tool(name):
    """The path of a PostgreSQL client program (of the cluster's version)."""
    path = os.path.join(PG_BIN, name)
    return path if os.access(path, os.X_OK) else (shutil.which(name) or path)


def with_dbname(url, dbname):
    """url with its database (the path) replaced by dbname."""
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, u.fragment))


def pg_connect(url, autocommit=True, readonly=False):
    import psycopg2  # only needed on PostgreSQL (python3-psycopg2)
    con = psycopg2.connect(url, connect_timeout=PG_TIMEOUT,
                           options=f"-c statement_timeout={PG_TIMEOUT * 1000}")
    con.set_session(autocommit=autocommit, readonly=readonly)
    return con


def check_pg():
    """None when the cluster of CLOSELOOP_TEST_PG can be used; else why not."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "CLOSELOOP_TEST_PG needs python3-psycopg2 (scripts/install-deps.sh test)"
    try:
        _admin("SELECT 1")
    except Exception as e:  # noqa: BLE001 (any failure: report it and stop)
        return f"CLOSELOOP_TEST_PG={PG_ADMIN}: cannot connect: {str(e).strip()}"
    return None


def _admin(sql, admin=None):
    con = pg_connect(admin or PG_ADMIN)
    try:
        with con.cursor() as cur:
            cur.execute(sql)
    finally:
        con.close()


def create_pg_database(admin, name="closeloop"):
    """CREATE DATABASE with a unique name on the cluster of the admin URL;
    returns (its name, its URL)."""
    tag = "".join(ch for ch in name.lower() if ch.isalnum())[:16] or "db"
    dbname = f"cl_{tag}_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{dbname}"', admin)
    return dbname, with_dbname(admin, dbname)


def new_db(directory, name="closeloop"):
    """A new, empty database for one test (or module): the path of a file
    that does not exist yet in directory, or the URL of a new PostgreSQL
    database. name tells two databases of one test apart."""
    if not PG:
        return Path(directory) / f"{name}.db"
    dbname, url = create_pg_database(PG_ADMIN, name)
    _created.append(dbname)
    return url


def created_count():
    return len(_created)


def drop_created_since(mark):
    """Drops the databases new_db made after created_count() returned mark."""
    while len(_created) > mark:
        dbname = _created.pop()
        _admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def drop_all():
    drop_created_since(0)


def query_db(db, sql, params=()):
    """Rows of a read-only query (SQL with ? placeholders; portable SQL only)
    on either backend, as a list of tuples. History is stored, not served over
    HTTP, so tests read it here."""
    if not is_pg_url(db):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()
    con = pg_connect(str(db), readonly=True)
    try:
        with con.cursor() as cur:
            cur.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                    for row in cur.fetchall()]
    finally:
        con.close()


def db_exists(db):
    """Whether a command has created the database: the SQLite file exists, or
    the PostgreSQL database (which the test made empty) holds any table."""
    if not is_pg_url(db):
        return os.path.exists(db)
    rows = query_db(db, "SELECT count(*) FROM information_schema.tables "
                        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
    return rows[0][0] > 0


def dump_db(db):
    """Everything the database stores, as text (schema and rows)."""
    if not is_pg_url(db):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return "\n".join(con.iterdump())
        finally:
            con.close()
    p = subprocess.run([pg_tool("pg_dump"), "--no-owner", "--dbname", str(db)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"pg_dump: exit {p.returncode}: {p.stderr}"
    return p.stdout


def integrity(db):
    """["ok"] when the database is sound as a crash left it, without any
    repair: SQLite's PRAGMA integrity_check (the WAL read as SQLite always
    does), or on PostgreSQL pg_amcheck over every table and index (heap and
    B-tree structure, every heap tuple found in its indexes). Otherwise the
    problems found."""
    if not is_pg_url(db):
        con = sqlite3.connect(str(db), timeout=10)
        try:
            return [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
        finally:
            con.close()
    # amcheck's functions go into pg_catalog, away from closeloop's schema.
    p = subprocess.run([pg_tool("pg_amcheck"), "--install-missing", "--heapallindexed",
                        "--parent-check", str(db)],
                       capture_output=True, text=True, timeout=120)
    if p.returncode == 0:
        return ["ok"]
    return (p.stdout + p.stderr).strip().splitlines() or [f"pg_amcheck exit {p.returncode}"]


# ---- fixtures, shared by both black-box suites' conftest.py ------------------------


@pytest.fixture(scope="session", autouse=True)
def _databases_of_the_session():
    """Checks the PostgreSQL cluster once; drops the databases still left at
    the end (module-scoped ones)."""
    if PG:
        problem = check_pg()
        if problem:
            pytest.exit(problem, returncode=3)
    yield
    drop_all()


@pytest.fixture(autouse=True)
def _databases_of_the_test():
    """Drops the PostgreSQL databases a test made, once all its other fixtures
    (servers included: autouse fixtures are set up first, so torn down last)
    are done. Databases of module-scoped fixtures are set up before this one
    and so are kept for the module."""
    mark = created_count()
    yield
    drop_created_since(mark)
