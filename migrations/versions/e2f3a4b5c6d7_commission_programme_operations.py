"""The commission programme run by the operator: draft and published versions, product
multipliers, and the programme's audit

Revision ID: e2f3a4b5c6d7
Revises: f3a4b5c6d7e8
Create Date: 2026-12-07 14:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'e2f3a4b5c6d7'
down_revision = 'f3a4b5c6d7e8'
branch_labels = None
depends_on = None


def upgrade():
    # Every version written before this revision was in force: they are published.
    with op.batch_alter_table('commission_programme_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='published', nullable=False))
        batch_op.add_column(sa.Column('created_by', sa.String(length=320), server_default='system', nullable=False))
        batch_op.add_column(sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('published_by', sa.String(length=320), nullable=True))
        batch_op.alter_column('valid_from', existing_type=sa.DateTime(timezone=True), nullable=True)
        batch_op.create_check_constraint(op.f('ck_commission_programme_versions_status_known'), "status IN ('draft', 'published', 'discarded')")
        batch_op.create_check_constraint(op.f('ck_commission_programme_versions_published_dated'), "status <> 'published' OR valid_from IS NOT NULL")
    op.create_index('uq_commission_programme_versions_one_draft', 'commission_programme_versions',
                    ['programme_id'], unique=True,
                    postgresql_where=sa.text("status = 'draft'"),
                    sqlite_where=sa.text("status = 'draft'"))
    op.execute("UPDATE commission_programme_versions SET published_at = created_at")

    with op.batch_alter_table('commission_promotions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by', sa.String(length=320), server_default='system', nullable=False))

    op.create_table('commission_product_multipliers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('programme_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=False),
    sa.Column('factor', sa.Numeric(precision=6, scale=3), nullable=False),
    sa.Column('product_codes', sa.JSON(), nullable=False),
    sa.Column('family', sa.String(length=32), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_commission_product_multipliers_window_ordered')),
    sa.CheckConstraint('factor > 0', name=op.f('ck_commission_product_multipliers_factor_positive')),
    sa.ForeignKeyConstraint(['programme_id'], ['commission_programmes.id'], name=op.f('fk_commission_product_multipliers_programme_id_commission_programmes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_product_multipliers'))
    )
    with op.batch_alter_table('commission_product_multipliers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commission_product_multipliers_programme_id'), ['programme_id'], unique=False)

    op.create_table('commission_programme_changes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('programme_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=True),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['commission_programmes.id'], name=op.f('fk_commission_programme_changes_programme_id_commission_programmes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_programme_changes'))
    )
    op.create_index('ix_commission_programme_changes_programme_at', 'commission_programme_changes', ['programme_id', 'at'], unique=False)


def downgrade():
    op.drop_index('ix_commission_programme_changes_programme_at', table_name='commission_programme_changes')
    op.drop_table('commission_programme_changes')
    with op.batch_alter_table('commission_product_multipliers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commission_product_multipliers_programme_id'))
    op.drop_table('commission_product_multipliers')
    with op.batch_alter_table('commission_promotions', schema=None) as batch_op:
        batch_op.drop_column('created_by')
    op.drop_index('uq_commission_programme_versions_one_draft', table_name='commission_programme_versions')
    # Drafts and discarded versions have no place in the older schema.
    op.execute("DELETE FROM commission_programme_versions WHERE status <> 'published'")
    with op.batch_alter_table('commission_programme_versions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_commission_programme_versions_published_dated'), type_='check')
        batch_op.drop_constraint(op.f('ck_commission_programme_versions_status_known'), type_='check')
        batch_op.alter_column('valid_from', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_column('published_by')
        batch_op.drop_column('published_at')
        batch_op.drop_column('created_by')
        batch_op.drop_column('status')
