"""Singer tap for the TOPdesk REST API (singer-sdk)"""
