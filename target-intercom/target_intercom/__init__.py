"""Singer target for Intercom (singer-sdk)"""
