"""A local review site for the demo and the tests: Apple's App Store review feed, served
from real labelled review texts, with a planted surge of negative reviews."""
