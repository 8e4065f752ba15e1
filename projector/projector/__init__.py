"""Ordersource projector: a Faust app folding ``orders.events`` into Redis read views."""
