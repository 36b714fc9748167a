"""Files for the browser: ``static/pdq.js`` computes PDQ hashes of images on the person's own device."""
