"""Masking of secret query parameters (round 2 finding 3)."""

from reporter.masking import mask, register_secrets, url_secrets


def test_secret_query_values_are_masked_everywhere():
    url = "postgresql://u@h/db?sslpassword=Q%2FSECRET9&sslmode=require&keyboard=1&user=bob"
    assert mask(url) == "postgresql://u@h/db?sslpassword=***&sslmode=require&keyboard=***&user=bob"
    register_secrets(url_secrets(url))  # a driver error quoting the value alone is masked too
    assert mask("connection failed: bad password 'Q/SECRET9'") == "connection failed: bad password '***'"
