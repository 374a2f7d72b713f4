"""In-app notifications and the email outbox. (Being implemented for issue 3.)"""
