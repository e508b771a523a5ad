"""Partner console: members, and the price bounds the partner's staff may set within

Revision ID: f7a8b9c0d1e2
Revises: e6f7a8b9c0d1
Create Date: 2026-12-02 20:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'f7a8b9c0d1e2'
down_revision = 'e6f7a8b9c0d1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('partner_members',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('invited_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_members_partner_id_partners'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_partner_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_members')),
    sa.UniqueConstraint('user_id', name=op.f('uq_partner_members_user_id'))
    )
    with op.batch_alter_table('partner_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_members_partner_id'), ['partner_id'], unique=False)
    # In place on SQLite too (no batch copy of a table other tables point at).
    op.add_column('partner_products', sa.Column('min_price_cents', sa.Integer(), nullable=True))
    op.add_column('partner_products', sa.Column('max_price_cents', sa.Integer(), nullable=True))


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE partner_products DROP COLUMN max_price_cents')
        op.execute('ALTER TABLE partner_products DROP COLUMN min_price_cents')
    else:
        with op.batch_alter_table('partner_products', schema=None) as batch_op:
            batch_op.drop_column('max_price_cents')
            batch_op.drop_column('min_price_cents')
    with op.batch_alter_table('partner_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_members_partner_id'))
    op.drop_table('partner_members')
