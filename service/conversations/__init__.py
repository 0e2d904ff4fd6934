"""Conversations: one inbound text stored, its flow step run and its effects applied in one
transaction, and the question a bare YES / NO answers.

Imports flows, models, rosters, volunteers and sending's public functions.
"""
