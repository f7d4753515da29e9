"""Fulfillment functions the relay benchmark runs side by side, as Lambda would run them."""
