"""Reading a card from a photo, pure (numpy in, data out): the views of the card to read
(outline, its alternatives, the whole image, the MRZ band), the checked credential of a back,
and the refusal and guidance codes with their texts. Built on kiosk.vision and kiosk.mrz."""
