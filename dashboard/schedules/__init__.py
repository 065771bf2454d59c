"""Beat schedules (django-celery-beat): the defaults from settings, the pages that show and change them."""
