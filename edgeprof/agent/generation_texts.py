"""The texts a generative model is run on when the user gives none: chat-length prompts of several lengths and a
short passage for perplexity. Written for edgeprof; plain English on everyday technical topics."""

from __future__ import annotations

PROMPTS = (
    "What is a battery?",
    "Name three uses of a small single-board computer.",
    "Explain in two sentences why a phone gets warm when it charges.",
    "My smart speaker answers slowly in the morning but quickly at night. What could cause the difference, "
    "and what should I check first?",
    "Write a short, friendly message to a customer whose parcel will arrive one day late because of a storm. "
    "Apologise, give the new delivery day, and offer a discount code for the next order.",
    "A greenhouse controller reads the temperature every minute and opens a window when it is above 28 degrees. "
    "In the afternoon the window keeps opening and closing every few minutes. Describe why this happens and "
    "suggest a simple change to the control rule that stops it.",
    "Summarise the following note for a busy manager in one sentence: the night shift found that conveyor belt "
    "four stopped twice because a sensor was covered in dust; the sensor was cleaned, a weekly cleaning task was "
    "added to the checklist, and no parts were lost, but the line ran forty minutes behind schedule and the "
    "morning shift had to catch up before the nine o'clock truck.",
    "You are the help desk assistant of a small library. A visitor asks how to borrow an e-book, how long the "
    "loan lasts, whether they can renew it, and what happens if they forget to return it. Answer each question "
    "briefly, in a numbered list, using a warm tone, and end by asking whether they need help with anything else. "
    "Loans last fourteen days, one renewal is allowed if nobody is waiting, and e-books return themselves.",
)

PERPLEXITY_TEXT = (
    "The weather station on the roof of the school measures the temperature, the humidity and the speed of the "
    "wind. Every ten minutes it sends the readings to a small computer in the science room. The students use the "
    "numbers to draw charts of the week, and they compare them with the forecast on the radio. In winter the "
    "station showed that the coldest hour was just before sunrise, not at midnight as many of them had guessed. "
    "In spring they noticed that the wind was stronger in the afternoon, when the ground had warmed up and the air "
    "above it began to rise. One rainy day the station stopped sending data. The teacher climbed onto the roof with "
    "two students and found that a bird had built a nest next to the cable. They moved the cable to the other side "
    "of the mast, covered it with a plastic tube, and left the nest where it was. A week later the station was "
    "working again, and the class had a new question to study: how many eggs would hatch before the summer "
    "holidays? They set up a small camera, agreed on rules for watching without disturbing the birds, and wrote "
    "down what they saw every morning before lessons began."
)
