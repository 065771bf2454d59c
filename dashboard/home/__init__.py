"""The dashboard home: the demo job (services.py runs its steps; views.py and forms.py start it)
and the live task charts (charts.py)."""
