"""Payment gateways and the one confirm_payment that both the webhook and the return page call."""
