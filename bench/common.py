"""What the licensing and vault benchmarks share: their own PostgreSQL database, and goals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError


def own_postgres(url: str) -> bool:
    """Create the bench's database when missing and empty it; False when PostgreSQL is down."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": target.database}).scalar() is None:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    except OperationalError:
        return False
    finally:
        admin.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return True


def check_goals(goals: dict[str, tuple[str, float]],
                figures: dict[str, tuple[float, str] | None],
                results: dict[str, Any]) -> list[str]:
    """Print each goal beside its figure (and where it was measured); return the goals missed."""
    missed = []
    results["goals"] = {}
    print("\ngoals:")
    for name, (op, goal) in goals.items():
        figure = figures.get(name)
        if figure is None:
            print(f"  {name:42} goal {op} {goal:<8g} not measured in this run")
            continue
        value, where = figure
        ok = value >= goal if op == ">=" else value <= goal
        results["goals"][name] = {"goal": f"{op} {goal}", "measured": value, "where": where,
                                  "met": ok}
        print(f"  {name:42} goal {op} {goal:<8g} measured {value:<10g} ({where}) "
              f"{'met' if ok else 'MISSED'}")
        if not ok:
            missed.append(name)
    return missed
