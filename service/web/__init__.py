"""The web floor: Twilio webhooks, the local simulator, health probes, request guards and the
coordinator console.

Views stay thin; they call the areas' public functions.
"""
