"""Invoices and credit notes: numbered without gaps per merchant and year, kept ten years."""
