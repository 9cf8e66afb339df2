"""A fictional article used by the web tests (invented names and places)."""

EXAMPLE_ARTICLE = """\
Immigration officers break car window during arrest in Kansas City, family says

By Ana Example, The Example Tribune, November 6, 2025

KANSAS CITY, Missouri — U.S. Immigration and Customs Enforcement (ICE) officers broke the window
of a parked car and pulled a man to the ground on Tuesday, his family said.

The officers told Jose Ejemplo, 34, that they had a warrant for his arrest but did not show it to
him, according to his partner, who streamed the encounter live on Facebook. The video is more
than 30 minutes long.

Kansas City police officers arrived to back up the federal agents. After about 25 minutes, an
officer smashed the driver's window and the man was pulled out and handcuffed.

"They never showed us any warrant," his partner said.

An ICE spokesman said the officers "had no other choice" because the man refused to get out of
the car. Ejemplo is being held at the Example County Jail.
"""
