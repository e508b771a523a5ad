"""Texts in other languages: products' names and descriptions, partners' taglines

Revision ID: e6f7a8b9c0d1
Revises: d5e6f7a8b9c0
Create Date: 2026-12-02 19:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'e6f7a8b9c0d1'
down_revision = 'd5e6f7a8b9c0'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('products', 'partners'):  # in place on SQLite too: others point at them
        op.add_column(table, sa.Column('translations', sa.JSON(), nullable=False,
                                       server_default='{}'))


def downgrade():
    for table in ('products', 'partners'):
        if op.get_bind().dialect.name == 'sqlite':
            op.execute(f'ALTER TABLE {table} DROP COLUMN translations')
        else:
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_column('translations')
