"""Cases: filing rules, starting and acting on case workflows, evidence attach, reads."""
