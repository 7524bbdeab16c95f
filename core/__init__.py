"""GAN Gallery core: networks, weights, media and applications, usable without Gradio."""
