"""Direct and indirect resellers, the distributor's share of a margin, the newcomer offer's
benefit years, and each reseller's language

Revision ID: a4b5c6d7e8f9
Revises: c5d6e7f8a9b0
Create Date: 2026-12-07 14:14:23.697723

"""
from alembic import op
import sqlalchemy as sa



revision = 'a4b5c6d7e8f9'
down_revision = 'c5d6e7f8a9b0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reseller_changes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('reseller_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reseller_id'], ['resellers.id'], name=op.f('fk_reseller_changes_reseller_id_resellers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reseller_changes'))
    )
    with op.batch_alter_table('reseller_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reseller_changes_reseller_id'), ['reseller_id'], unique=False)

    op.create_table('reseller_benefit_periods',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('reseller_id', sa.Uuid(), nullable=False),
    sa.Column('programme_id', sa.Uuid(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('benefit_name', sa.String(length=200), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sales_counted', sa.Integer(), nullable=True),
    sa.Column('price_cents', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('ledger_entry_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('free', 'billed')", name=op.f('ck_reseller_benefit_periods_status_known')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_reseller_benefit_periods_period_ordered')),
    sa.CheckConstraint('year >= 1', name=op.f('ck_reseller_benefit_periods_year_positive')),
    sa.ForeignKeyConstraint(['ledger_entry_id'], ['commission_ledger_entries.id'], name=op.f('fk_reseller_benefit_periods_ledger_entry_id_commission_ledger_entries')),
    sa.ForeignKeyConstraint(['programme_id'], ['commission_programmes.id'], name=op.f('fk_reseller_benefit_periods_programme_id_commission_programmes')),
    sa.ForeignKeyConstraint(['reseller_id'], ['resellers.id'], name=op.f('fk_reseller_benefit_periods_reseller_id_resellers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reseller_benefit_periods')),
    sa.UniqueConstraint('ledger_entry_id', name=op.f('uq_reseller_benefit_periods_ledger_entry_id')),
    sa.UniqueConstraint('reseller_id', 'year', name=op.f('uq_reseller_benefit_periods_reseller_id_year'))
    )
    with op.batch_alter_table('reseller_benefit_periods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reseller_benefit_periods_reseller_id'), ['reseller_id'], unique=False)

    with op.batch_alter_table('commission_ledger_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('beneficiary', sa.String(length=16), server_default='seller', nullable=False))
        batch_op.add_column(sa.Column('share', sa.Numeric(precision=5, scale=4), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_commission_ledger_entries_beneficiary_known'),
            "beneficiary IN ('seller', 'distributor')")

    with op.batch_alter_table('commission_programmes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('distributor_share', sa.Numeric(precision=5, scale=4), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('benefit_name', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('benefit_price_cents', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('benefit_starts_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_commission_programmes_distributor_share_fraction'),
            'distributor_share >= 0 AND distributor_share < 1')
        batch_op.create_check_constraint(
            op.f('ck_commission_programmes_benefit_price_positive'),
            'benefit_price_cents IS NULL OR benefit_price_cents > 0')

    with op.batch_alter_table('resellers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('programme_role', sa.String(length=16), server_default='direct', nullable=False))
        batch_op.add_column(sa.Column('distributor_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('locale', sa.String(length=5), nullable=True))
        batch_op.create_index(batch_op.f('ix_resellers_distributor_id'), ['distributor_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_resellers_distributor_id_resellers'), 'resellers', ['distributor_id'], ['id'])
        batch_op.create_check_constraint(
            op.f('ck_resellers_programme_role_known'),
            "programme_role IN ('direct', 'distributor', 'indirect')")
        batch_op.create_check_constraint(
            op.f('ck_resellers_indirect_has_distributor'),
            "(programme_role = 'indirect') = (distributor_id IS NOT NULL)")
        batch_op.create_check_constraint(op.f('ck_resellers_locale_known'),
                                         "locale IS NULL OR locale IN ('fr', 'en')")



def downgrade():
    with op.batch_alter_table('resellers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_resellers_locale_known'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_resellers_indirect_has_distributor'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_resellers_programme_role_known'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_resellers_distributor_id_resellers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_resellers_distributor_id'))
        batch_op.drop_column('locale')
        batch_op.drop_column('distributor_id')
        batch_op.drop_column('programme_role')

    with op.batch_alter_table('commission_programmes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_commission_programmes_benefit_price_positive'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_commission_programmes_distributor_share_fraction'), type_='check')
        batch_op.drop_column('benefit_starts_at')
        batch_op.drop_column('benefit_price_cents')
        batch_op.drop_column('benefit_name')
        batch_op.drop_column('distributor_share')

    with op.batch_alter_table('commission_ledger_entries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_commission_ledger_entries_beneficiary_known'), type_='check')
        batch_op.drop_column('share')
        batch_op.drop_column('beneficiary')

    with op.batch_alter_table('reseller_benefit_periods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reseller_benefit_periods_reseller_id'))

    op.drop_table('reseller_benefit_periods')
    with op.batch_alter_table('reseller_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reseller_changes_reseller_id'))

    op.drop_table('reseller_changes')
