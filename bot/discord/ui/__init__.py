"""Discord pieces the cogs and services share: the forms (`modals`), the buttons (`buttons`)
and the status embed (`cards`)."""
